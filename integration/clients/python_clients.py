"""Real Python clients driven through the gateway; prints what each returned, as JSON.

Usage: python python_clients.py CLIENT BASE_URL API_KEY
CLIENT: agents | langchain | pydantic_ai | instructor (instructor runs in its own venv).

Each scenario sends the scripted upstream its script in headers (integration/scripted_upstream.py):
`x-script-tools` makes the model call a tool (the upstream answers "Tool said: <result>" once the
result comes back), `x-script-content` is the answer's text (JSON for structured output).
"""

import asyncio
import json
import os
import sys

from pydantic import BaseModel

CLIENT, BASE, KEY = sys.argv[1], sys.argv[2], sys.argv[3]
CITY = {"city": "Paris", "population": 2100000}
CITY_JSON = json.dumps(CITY)


class City(BaseModel):
    city: str
    population: int


def tool_headers(name, args):
    return {"x-script-tools": json.dumps([{"name": name, "arguments": json.dumps(args)}])}


def weather(city: str) -> str:
    """Get the weather for a city."""
    return f"sunny in {city}"


def agents():
    os.environ["OPENAI_AGENTS_DISABLE_TRACING"] = "1"
    from agents import Agent, Runner, function_tool, set_default_openai_client, set_tracing_disabled
    from openai import AsyncOpenAI

    set_tracing_disabled(True)
    out = {}

    def use(headers):
        set_default_openai_client(AsyncOpenAI(base_url=BASE + "/v1", api_key=KEY, default_headers=headers),
                                  use_for_tracing=False)

    get_weather = function_tool(weather)
    use({})
    plain = Agent(name="A", instructions="Be brief.", model="chat-a")
    out["plain"] = Runner.run_sync(plain, "say hi").final_output
    use(tool_headers("weather", {"city": "Paris"}))
    agent = Agent(name="A", instructions="Use tools.", model="chat-a", tools=[get_weather])
    out["tool"] = Runner.run_sync(agent, "Weather in Paris?").final_output

    async def streamed():
        use(tool_headers("weather", {"city": "Oslo"}))
        r = Runner.run_streamed(agent, "Weather in Oslo?")
        async for _ in r.stream_events():
            pass
        return r.final_output

    out["streamed_tool"] = asyncio.run(streamed())
    use({"x-script-content": CITY_JSON})
    structured = Agent(name="S", instructions="Extract.", model="claude-opus-4-1", output_type=City)
    out["structured_claude"] = Runner.run_sync(structured, "Paris?").final_output.model_dump()
    return out


def langchain():
    from langchain_anthropic import ChatAnthropic
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    get_weather = tool(weather)
    out = {}

    def scenarios(name, make):
        text = make({}).invoke("say hi").content
        out[name + ".invoke"] = text if isinstance(text, str) else "".join(b.get("text", "") for b in text)
        out[name + ".stream"] = "".join(
            c.content if isinstance(c.content, str) else "".join(b.get("text", "") for b in c.content)
            for c in make({}).stream("say hi"))
        llm = make(tool_headers("weather", {"city": "Rome"})).bind_tools([get_weather])
        msgs = [HumanMessage("Weather in Rome?")]
        ai = llm.invoke(msgs)
        msgs.append(ai)
        for tc in ai.tool_calls:
            msgs.append(ToolMessage(get_weather.invoke(tc["args"]), tool_call_id=tc["id"]))
        final = llm.invoke(msgs).content
        out[name + ".tools"] = final if isinstance(final, str) else "".join(b.get("text", "") for b in final)
        structured = make({"x-script-content": CITY_JSON,
                           "x-script-tools": json.dumps([{"name": "City", "arguments": CITY_JSON}])})
        out[name + ".structured"] = structured.with_structured_output(City).invoke("Paris?").model_dump()

    scenarios("chat_openai", lambda h: ChatOpenAI(model="chat-a", base_url=BASE + "/v1", api_key=KEY,
                                                  default_headers=h, max_retries=0))
    scenarios("chat_openai_responses", lambda h: ChatOpenAI(model="chat-a", base_url=BASE + "/v1", api_key=KEY,
                                                            default_headers=h, max_retries=0,
                                                            use_responses_api=True))
    # The docs give one base URL for every SDK; ChatAnthropic takes it too (…/v1/v1/messages).
    scenarios("chat_anthropic", lambda h: ChatAnthropic(model="claude-opus-4-1", base_url=BASE + "/v1", api_key=KEY,
                                                        default_headers=h, max_retries=0))
    return out


def pydantic_ai():
    from anthropic import AsyncAnthropic
    from openai import AsyncOpenAI
    from pydantic_ai import Agent
    from pydantic_ai.models.anthropic import AnthropicModel
    from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
    from pydantic_ai.providers.anthropic import AnthropicProvider
    from pydantic_ai.providers.openai import OpenAIProvider

    def openai_provider(h):
        return OpenAIProvider(openai_client=AsyncOpenAI(base_url=BASE + "/v1", api_key=KEY, default_headers=h,
                                                        max_retries=0))

    def anthropic_provider(h):
        return AnthropicProvider(anthropic_client=AsyncAnthropic(base_url=BASE, api_key=KEY, default_headers=h,
                                                                 max_retries=0))

    models = {
        "openai_chat": lambda h: OpenAIChatModel("chat-a", provider=openai_provider(h)),
        "openai_responses": lambda h: OpenAIResponsesModel("chat-a", provider=openai_provider(h)),
        "anthropic": lambda h: AnthropicModel("claude-opus-4-1", provider=anthropic_provider(h)),
    }
    out = {}
    for name, model in models.items():
        out[name + ".plain"] = Agent(model({})).run_sync("say hi").output
        agent = Agent(model(tool_headers("weather", {"city": "Turku"})), tools=[weather])
        out[name + ".tool"] = agent.run_sync("Weather in Turku?").output
        # Structured output through pydantic-ai's `final_result` tool.
        structured = Agent(model(tool_headers("final_result", CITY)), output_type=City)
        out[name + ".structured"] = structured.run_sync("Paris?").output.model_dump()
    return out


def instructor_clients():
    import instructor
    from anthropic import Anthropic
    from openai import OpenAI

    msgs = [{"role": "user", "content": "Tell me about Paris"}]
    headers = tool_headers("City", CITY)
    out = {}
    oai = instructor.from_openai(OpenAI(base_url=BASE + "/v1", api_key=KEY, default_headers=headers, max_retries=0))
    out["openai"] = oai.chat.completions.create(model="chat-a", response_model=City, messages=msgs).model_dump()
    json_mode = instructor.from_openai(
        OpenAI(base_url=BASE + "/v1", api_key=KEY, default_headers={"x-script-content": CITY_JSON}, max_retries=0),
        mode=instructor.Mode.JSON_SCHEMA)
    out["openai_json_schema"] = json_mode.chat.completions.create(model="claude-opus-4-1", response_model=City,
                                                                  messages=msgs).model_dump()
    ant = instructor.from_anthropic(Anthropic(base_url=BASE, api_key=KEY, default_headers=headers, max_retries=0))
    out["anthropic"] = ant.messages.create(model="claude-opus-4-1", max_tokens=512, response_model=City,
                                           messages=msgs).model_dump()
    ant_translated = instructor.from_anthropic(Anthropic(base_url=BASE + "/v1", api_key=KEY, default_headers=headers,
                                                         max_retries=0))
    out["anthropic_translated"] = ant_translated.messages.create(model="chat-a", max_tokens=512, response_model=City,
                                                                 messages=msgs).model_dump()
    return out


RUN = {"agents": agents, "langchain": langchain, "pydantic_ai": pydantic_ai, "instructor": instructor_clients}
print(json.dumps(RUN[CLIENT]()))
