# Sourced by scripts/run and scripts/test: create .venv with the project installed, once per change of
# pyproject.toml (a stamp file remembers what was installed).
ensure_venv() {
  local extras="$1" stamp=".venv/.installed$1"
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".$extras"
    touch "$stamp"
  fi
}
