# Sourced by scripts/run and scripts/test: create .venv with the project installed, once per change of
# pyproject.toml or of this file (a stamp file remembers what was installed).

# OPA's own Go engine in-process (the embedded policy engine's default runtime). Its metadata says Python >= 3.14
# only because of how it was published: the wheel is py3-none, and it works on 3.11 (tested here).
OPA_GO_PIN="opa-golib-python-bindings==0.4.4"
install_opa_go() {
  "$1" -m pip install -q --ignore-requires-python --no-deps "$OPA_GO_PIN"
}

ensure_venv() {
  local extras="$1" stamp=".venv/.installed$1"
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ scripts/venv.sh -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".$extras"
    install_opa_go .venv/bin/python
    touch "$stamp"
  fi
}
