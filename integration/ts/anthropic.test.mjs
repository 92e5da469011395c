// The Anthropic contract through @anthropic-ai/sdk. Env: STAV_BASE, STAV_KEY (set by pytest).
import { test } from "node:test";
import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";

const client = new Anthropic({ baseURL: process.env.STAV_BASE, apiKey: process.env.STAV_KEY, maxRetries: 0 });
const weather = {
  name: "get_weather",
  description: "Current weather",
  input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
};

test("messages.create on a translated model", async () => {
  const { data: msg, response } = await client.messages
    .create(
      { model: "chat-a", max_tokens: 32, messages: [{ role: "user", content: "Hi" }] },
      { headers: { "x-script-content": "Hallo from TS." } },
    )
    .withResponse();
  assert.equal(msg.content[0].text, "Hallo from TS.");
  assert.equal(msg.model, "chat-a");
  assert.equal(msg.stop_reason, "end_turn");
  assert.equal(response.headers.get("x-stav-sovereignty-tier"), "sovereign");
  assert.match(msg._request_id, /^req_/);
});

test("messages.stream().finalMessage() with text", async () => {
  const text = "Typed streams, translated.";
  const stream = client.messages.stream(
    { model: "chat-a", max_tokens: 32, messages: [{ role: "user", content: "go" }] },
    { headers: { "x-script-content": text } },
  );
  let seen = "";
  stream.on("text", (t) => (seen += t));
  const final = await stream.finalMessage();
  assert.equal(seen, text);
  assert.equal(final.content[0].text, text);
  assert.equal(final.usage.output_tokens, 7);
});

test("tool use round trip", async () => {
  const calls = [
    { name: "get_weather", arguments: '{"city": "Tartu"}' },
    { name: "get_weather", arguments: '{"city": "Cork"}' },
  ];
  const first = await client.messages
    .stream(
      { model: "chat-a", max_tokens: 64, tools: [weather], messages: [{ role: "user", content: "Weather?" }] },
      { headers: { "x-script-tools": JSON.stringify(calls) } },
    )
    .finalMessage();
  const uses = first.content.filter((b) => b.type === "tool_use");
  assert.equal(first.stop_reason, "tool_use");
  assert.deepEqual(uses.map((u) => u.input), [{ city: "Tartu" }, { city: "Cork" }]);
  const second = await client.messages.create(
    {
      model: "chat-a",
      max_tokens: 64,
      tools: [weather],
      messages: [
        { role: "user", content: "Weather?" },
        { role: "assistant", content: first.content },
        {
          role: "user",
          content: uses.map((u, i) => ({ type: "tool_result", tool_use_id: u.id, content: `${10 + i}C` })),
        },
      ],
    },
    { headers: { "x-script-content": "Tartu 10C, Cork 11C." } },
  );
  assert.equal(second.content[0].text, "Tartu 10C, Cork 11C.");
});

test("images are accepted", async () => {
  const msg = await client.messages.create({
    model: "chat-a",
    max_tokens: 8,
    messages: [
      {
        role: "user",
        content: [
          { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" } },
          { type: "text", text: "What is this?" },
        ],
      },
    ],
  });
  assert.equal(msg.type, "message");
});

test("count_tokens and models.list", async () => {
  const count = await client.messages.countTokens({ model: "chat-a", messages: [{ role: "user", content: "hello" }] });
  assert.ok(count.input_tokens > 0);
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.deepEqual(ids, ["chat-a", "chat-b", "emb-a", "slow-model", "down-model", "claude-pinned"]);
});

test("Claude pass-through streams with finalMessage()", async () => {
  const final = await client.messages
    .stream({ model: "claude-opus-4-1", max_tokens: 32, messages: [{ role: "user", content: "hi" }] })
    .finalMessage();
  assert.equal(final.content[0].text, "Claude says hi.");
  assert.equal(final.id, "msg_upstream_1");
});

test("error classes", async () => {
  const bad = new Anthropic({ baseURL: process.env.STAV_BASE, apiKey: "sk-wrong", maxRetries: 0 });
  await assert.rejects(
    bad.messages.create({ model: "chat-a", max_tokens: 5, messages: [{ role: "user", content: "x" }] }),
    (e) => e instanceof Anthropic.AuthenticationError && e.error.error.type === "authentication_error",
  );
  await assert.rejects(
    client.messages.create({ model: "nope", max_tokens: 5, messages: [{ role: "user", content: "x" }] }),
    (e) => e instanceof Anthropic.NotFoundError && e.status === 404,
  );
  await assert.rejects(
    client.messages.create(
      { model: "chat-a", max_tokens: 5, messages: [{ role: "user", content: "x" }] },
      { headers: { "x-script": "status-429" } },
    ),
    (e) => e instanceof Anthropic.RateLimitError && e.error.error.type === "rate_limit_error",
  );
  await assert.rejects(
    client.messages.create(
      { model: "chat-a", max_tokens: 5, messages: [{ role: "user", content: "x" }] },
      { headers: { "x-script": "status-503" } },
    ),
    (e) => e instanceof Anthropic.InternalServerError && e.status === 529,
  );
  await assert.rejects(
    client.messages
      .stream(
        { model: "chat-a", max_tokens: 5, messages: [{ role: "user", content: "x" }] },
        { headers: { "x-script": "cut", "x-script-content": "cut me off please" } },
      )
      .finalMessage(),
    (e) => e instanceof Anthropic.APIError,
  );
});
