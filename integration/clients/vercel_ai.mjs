// The Vercel AI SDK driven through the gateway; prints what each call returned, as JSON.
// Usage: node vercel_ai.mjs BASE_URL API_KEY
// The scripted upstream reads its script from headers: x-script-tools (a tool call; "Tool said:
// <result>" once the result is back), x-script-content (the answer's text).
import { generateText, streamText, generateObject, tool, stepCountIs } from "ai";
import { createOpenAI } from "@ai-sdk/openai";
import { createAnthropic } from "@ai-sdk/anthropic";
import { z } from "zod";

globalThis.AI_SDK_LOG_WARNINGS = false;
const [base, apiKey] = process.argv.slice(2);
const City = z.object({ city: z.string(), population: z.number().int() });
const cityJson = JSON.stringify({ city: "Paris", population: 2100000 });
const weather = tool({
  description: "Get the weather for a city.",
  inputSchema: z.object({ city: z.string() }),
  execute: async ({ city }) => `sunny in ${city}`,
});
const toolHeaders = { "x-script-tools": JSON.stringify([{ name: "weather", arguments: '{"city":"Paris"}' }]) };

// The docs' one base URL, ending in /v1, for both providers.
const providers = {
  openai_default: (headers) => createOpenAI({ baseURL: `${base}/v1`, apiKey, headers })("chat-a"),
  openai_chat: (headers) => createOpenAI({ baseURL: `${base}/v1`, apiKey, headers }).chat("chat-a"),
  anthropic: (headers) => createAnthropic({ baseURL: `${base}/v1`, apiKey, headers })("claude-opus-4-1"),
};

const out = {};
for (const [name, model] of Object.entries(providers)) {
  out[`${name}.generateText`] = (await generateText({ model: model({}), system: "Be brief.", prompt: "say hi" })).text;
  let streamed = "";
  for await (const d of streamText({ model: model({}), prompt: "say hi" }).textStream) streamed += d;
  out[`${name}.streamText`] = streamed;
  const obj = await generateObject({ model: model({ "x-script-content": cityJson }), schema: City, prompt: "Paris?" });
  out[`${name}.generateObject`] = obj.object;
  const t = await generateText({ model: model(toolHeaders), tools: { weather }, stopWhen: stepCountIs(3), prompt: "Weather?" });
  out[`${name}.tool`] = t.text;
  let streamedTool = "";
  const st = streamText({ model: model(toolHeaders), tools: { weather }, stopWhen: stepCountIs(3), prompt: "Weather?" });
  for await (const d of st.textStream) streamedTool += d;
  out[`${name}.streamTool`] = streamedTool;
}
console.log(JSON.stringify(out));
