// The OpenAI contract through the openai npm SDK, including Claude models (translated).
import { test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";

const client = new OpenAI({ baseURL: `${process.env.STAV_BASE}/v1`, apiKey: process.env.STAV_KEY, maxRetries: 0 });

for (const model of ["chat-a", "claude-opus-4-1"]) {
  test(`create and finalChatCompletion on ${model}`, async () => {
    const c = await client.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }] });
    assert.ok(c.choices[0].message.content.length > 0);
    const stream = client.chat.completions.stream({
      model,
      messages: [{ role: "user", content: "hi" }],
      stream_options: { include_usage: true },
    });
    const final = await stream.finalChatCompletion();
    assert.equal(final.choices[0].message.content, c.choices[0].message.content);
    assert.equal(final.choices[0].finish_reason, "stop");
  });

  test(`streamed tool calls on ${model}`, async () => {
    const calls = [{ name: "get_weather", arguments: '{"city": "Vilnius"}' }];
    const final = await client.chat.completions
      .stream(
        {
          model,
          messages: [{ role: "user", content: "Weather?" }],
          tools: [{ type: "function", function: { name: "get_weather", parameters: { type: "object" } } }],
        },
        { headers: { "x-script-tools": JSON.stringify(calls) } },
      )
      .finalChatCompletion();
    const tc = final.choices[0].message.tool_calls[0];
    assert.equal(tc.function.name, "get_weather");
    assert.deepEqual(JSON.parse(tc.function.arguments), { city: "Vilnius" });
  });
}

test("errors are OpenAI classes", async () => {
  await assert.rejects(
    client.chat.completions.create({ model: "nope", messages: [{ role: "user", content: "x" }] }),
    (e) => e instanceof OpenAI.NotFoundError && e.code === "model_not_found",
  );
});
