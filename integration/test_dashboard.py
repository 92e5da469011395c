"""The Grafana dashboard only queries metrics the gateway exports."""

import json
import re

from conftest import ROOT


def test_dashboard_queries_exported_metrics(gateway, openai_client):
    import openai
    import pytest

    # Traffic that touches every family: a stream, a refused model, a bad key, a dead upstream.
    list(openai_client.chat.completions.create(model="chat-a", messages=[{"role": "user", "content": "x"}], stream=True))
    with pytest.raises(openai.NotFoundError):
        openai_client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=gateway.base + "/v1", api_key="bad", max_retries=0).models.list()
    with pytest.raises(openai.InternalServerError):
        openai_client.chat.completions.create(model="down-model", messages=[{"role": "user", "content": "x"}])
    exported = {line.split("{")[0].split(" ")[0] for line in gateway.metrics().splitlines() if line and not line.startswith("#")}
    families = {re.sub(r"_(bucket|sum|count)$", "", m) for m in exported}
    dash = json.loads((ROOT / "conf" / "grafana-dashboard.json").read_text())
    used = {m for p in dash["panels"] for t in p["targets"]
            for m in re.findall(r"\b((?:stav|gen_ai)_[a-z_]+)", t["expr"])}
    assert used, "the dashboard queries something"
    # The GenAI histograms and the trace exporter's counters are on it.
    for m in ("gen_ai_client_token_usage", "gen_ai_server_time_to_first_token", "stav_otel_spans_dropped_total"):
        assert any(u.startswith(m) for u in used), m
    for m in used:
        assert re.sub(r"_(bucket|sum|count)$", "", m) in families, f"{m} is not exported"
