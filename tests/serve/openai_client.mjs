// tests/serve/openai_client.mjs — llamaref serve through OpenAI's official Node.js client (npm
// `openai`): completions with echo and logprobs, the stream against the whole answer, chat, the
// model list and an error. usage: node openai_client.mjs BASE_URL OUT_DIR
// Writes OUT_DIR/echo.json (a completion with echo and logprobs, checked against `llamaref logits`
// by serve_test.sh) and OUT_DIR/seeded.json (a seeded completion, checked against `llamaref generate`).
import fs from "node:fs";
import OpenAI from "openai";

const [base, out] = process.argv.slice(2);
const client = new OpenAI({ baseURL: base + "/v1", apiKey: "test-key", timeout: 60000, maxRetries: 0 });
let failures = 0;
const check = (ok, what) => {
  console.log((ok ? "ok: " : "FAIL: ") + what);
  if (!ok) failures++;
};

const models = await client.models.list();
const model = models.data[0].id;
check(models.data.length === 1 && typeof model === "string", `models.list: ${model}`);

// echo + logprobs: every prompt token, the first with a null log-probability
const echo = await client.completions.create({
  model, prompt: "Once upon a time", max_tokens: 12, temperature: 0, logprobs: 3, echo: true,
});
fs.writeFileSync(`${out}/echo.json`, JSON.stringify(echo));
const c = echo.choices[0];
check(c.logprobs.tokens.length === c.prompt_token_ids.length + c.token_ids.length,
  `echo: ${c.logprobs.tokens.length} logprob positions = ${c.prompt_token_ids.length} prompt + ${c.token_ids.length} generated tokens`);
check(c.logprobs.token_logprobs[0] === null && c.logprobs.token_logprobs.slice(1).every((x) => typeof x === "number"),
  "echo: first log-probability null, the others numbers");
check(c.text.startsWith("Once upon a time"), `echo: text begins with the prompt: ${JSON.stringify(c.text)}`);

// stream vs whole answer, seeded sampling
const params = { model, prompt: "Once upon a time", max_tokens: 40, temperature: 0.9, top_p: 0.95, seed: 7,
  top_k: 20, min_p: 0.02, repeat_penalty: 1.1, logprobs: 2 };
const whole = await client.completions.create(params);
fs.writeFileSync(`${out}/seeded.json`, JSON.stringify(whole));
let text = "", ids = [], lps = [];
for await (const chunk of await client.completions.create({ ...params, stream: true })) {
  for (const ch of chunk.choices) {
    text += ch.text;
    ids.push(...(ch.token_ids || []));
    if (ch.logprobs) lps.push(...ch.logprobs.token_logprobs);
  }
}
check(text === whole.choices[0].text, `completions stream concatenates to the whole text (${text.length} chars)`);
check(JSON.stringify(ids) === JSON.stringify(whole.choices[0].token_ids), "completions stream: the same token ids");
check(JSON.stringify(lps) === JSON.stringify(whole.choices[0].logprobs.token_logprobs),
  "completions stream: the same log-probabilities");

// chat: whole and streamed, logprobs in the chat shape
const chatParams = { model, messages: [{ role: "system", content: "Tell a story." }, { role: "user", content: "A cat" }],
  max_tokens: 30, seed: 3, temperature: 0.8, logprobs: true, top_logprobs: 2 };
const chat = await client.chat.completions.create(chatParams);
const msg = chat.choices[0];
check(msg.message.role === "assistant" && typeof msg.message.content === "string", "chat: an assistant message");
check(msg.logprobs.content.length === msg.token_ids.length &&
  msg.logprobs.content.every((e) => typeof e.logprob === "number" && e.top_logprobs.length === 2),
  `chat: logprobs.content for each of ${msg.token_ids.length} tokens, 2 alternatives each`);
let chatText = "";
for await (const chunk of await client.chat.completions.create({ ...chatParams, stream: true }))
  for (const ch of chunk.choices) chatText += ch.delta.content || "";
check(chatText === msg.message.content, "chat stream concatenates to the whole message");

// a bad request: the client sees a 400 with OpenAI's error shape
try {
  await client.completions.create({ model, prompt: "x", max_tokens: -1 });
  check(false, "max_tokens -1 was accepted");
} catch (e) {
  check(e instanceof OpenAI.APIError && e.status === 400 && e.param === "max_tokens",
    `max_tokens -1: ${e.status} ${e.message}`);
}
process.exit(failures ? 1 : 0);
