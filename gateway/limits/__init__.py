"""Limits on requests, tokens, money and calls in flight, per agent, team, key or label (`limits:` in the config),
counted in the store so that they hold across workers and replicas. `config` is what an operator writes,
`windows` where a window begins, `ledger` the counters' atomic statements, `limiter` the service the pipeline's
`limit` stage uses."""
