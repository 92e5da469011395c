// The Responses API through the openai npm SDK, on a translated model and on Claude.
import { test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";

const client = new OpenAI({ baseURL: `${process.env.STAV_BASE}/v1`, apiKey: process.env.STAV_KEY, maxRetries: 0 });
const tools = [{ type: "function", name: "get_weather", strict: false,
  parameters: { type: "object", properties: { city: { type: "string" } } } }];

for (const model of ["chat-a", "claude-opus-4-1"]) {
  test(`create, stream and continue on ${model}`, async () => {
    const r = await client.responses.create({ model, input: "Say hi" });
    assert.equal(r.status, "completed");
    assert.ok(r.output_text.length > 0);
    const stream = client.responses.stream({ model, input: "Say hi" });
    const types = [];
    stream.on("event", (e) => types.push(e.type));
    const final = await stream.finalResponse();
    assert.equal(final.output_text, r.output_text);
    assert.equal(types[0], "response.created");
    assert.equal(types.at(-1), "response.completed");
    assert.ok(types.includes("response.output_item.done"));
    const next = await client.responses.create({ model, input: "again", previous_response_id: r.id });
    assert.equal(next.previous_response_id, r.id);
    const got = await client.responses.retrieve(r.id);
    assert.equal(got.id, r.id);
  });

  test(`streamed tool calls on ${model}`, async () => {
    const calls = [{ name: "get_weather", arguments: '{"city": "Riga"}' }];
    const final = await client.responses
      .stream({ model, input: "Weather?", tools }, { headers: { "x-script-tools": JSON.stringify(calls) } })
      .finalResponse();
    const call = final.output.find((o) => o.type === "function_call");
    assert.equal(call.name, "get_weather");
    assert.deepEqual(JSON.parse(call.arguments), { city: "Riga" });
    const after = await client.responses.create({
      model,
      tools,
      input: [{ role: "user", content: "Weather?" }, call, { type: "function_call_output", call_id: call.call_id, output: "5C" }],
    });
    assert.ok(after.output_text.length > 0);
  });
}

test("a stored response of another request cannot be continued once deleted", async () => {
  const r = await client.responses.create({ model: "chat-a", input: "x" });
  await client.responses.delete(r.id);
  await assert.rejects(
    client.responses.create({ model: "chat-a", input: "y", previous_response_id: r.id }),
    (e) => e instanceof OpenAI.NotFoundError,
  );
});
