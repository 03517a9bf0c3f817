// lmstudio-js (@lmstudio/sdk 2.x) against the LM Studio emulator: the SDK's common calls, each checked.
// Usage: node smoke.mjs ws://127.0.0.1:PORT [API_TOKEN]   (scripts/js_smoke.py starts the emulator)
import assert from "node:assert/strict";
import { Chat, LMStudioClient } from "@lmstudio/sdk";

const [baseUrl, apiToken] = process.argv.slice(2);
const PNG_BASE64 =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4//8/AAX+Av4N70a4AAAAAElFTkSuQmCC";
const quiet = { info() {}, warn() {}, debug() {}, error: (...args) => console.error("[sdk]", ...args) };
const results = [];

async function check(name, body) {
  try {
    await body();
    results.push([name, true]);
    console.log(`ok   ${name}`);
  } catch (error) {
    results.push([name, false]);
    console.log(`FAIL ${name}: ${error?.stack ?? error}`);
  }
}

const client = new LMStudioClient({ baseUrl, logger: quiet, ...(apiToken ? { apiToken } : {}) });

await check("list downloaded models", async () => {
  const all = await client.system.listDownloadedModels();
  assert.ok(all.some((m) => m.modelKey === "fake-echo-1b" && m.type === "llm"));
  const embeddings = await client.system.listDownloadedModels("embedding");
  assert.deepEqual(embeddings.map((m) => m.modelKey), ["fake-embed-small"]);
});

await check("list loaded models", async () => {
  const loaded = await client.llm.listLoaded();
  assert.deepEqual(loaded.map((m) => m.identifier), ["fake-echo-1b", "fake-vision-2b"]);
});

await check("default and named model", async () => {
  const any = await client.llm.model();
  assert.equal(any.identifier, "fake-echo-1b");
  const named = await client.llm.model("fake-vision-2b");
  assert.equal((await named.getModelInfo()).identifier, "fake-vision-2b");
  // Loaded without a context length, as LM Studio loads: 4096 tokens, though the model allows 8192.
  assert.equal(await named.getContextLength(), 4096);
});

await check("respond (awaited)", async () => {
  const model = await client.llm.model("fake-echo-1b");
  const result = await model.respond("Hello there", { maxTokens: 50 });
  assert.equal(result.content, "You said: Hello there");
  assert.equal(result.stats.stopReason, "eosFound");
  assert.ok(result.stats.promptTokensCount > 0);
});

await check("respond (streamed)", async () => {
  const model = await client.llm.model("fake-echo-1b");
  const prediction = model.respond(Chat.from([{ role: "user", content: "stream me" }]));
  const pieces = [];
  for await (const fragment of prediction) pieces.push(fragment.content);
  assert.equal(pieces.join(""), "You said: stream me");
  assert.ok(pieces.length > 1);
  assert.equal((await prediction.result()).content, "You said: stream me");
});

await check("respond (structured)", async () => {
  const model = await client.llm.model("fake-echo-1b");
  const schema = { type: "object", properties: { name: { type: "string" }, age: { type: "integer" } }, required: ["name", "age"] };
  const result = await model.respond("Who?", { structured: { type: "json", jsonSchema: schema } });
  const value = JSON.parse(result.content);
  assert.equal(typeof value.name, "string");
  assert.equal(typeof value.age, "number");
});

await check("complete", async () => {
  const model = await client.llm.model("fake-echo-1b");
  const result = await model.complete("Once upon a time", { maxTokens: 3 });
  assert.equal(result.stats.stopReason, "maxPredictedTokensReached");
  assert.equal(result.stats.predictedTokensCount, 3);
});

await check("load and unload", async () => {
  const loaded = await client.llm.load("fake-unloaded-7b", { identifier: "smoke-7b", config: { contextLength: 2048 } });
  assert.equal(loaded.identifier, "smoke-7b");
  assert.equal(await loaded.getContextLength(), 2048);
  const again = await client.llm.load("fake-echo-1b");
  assert.equal(again.identifier, "fake-echo-1b:2");
  await loaded.unload();
  await client.llm.unload("fake-echo-1b:2");
  assert.deepEqual((await client.llm.listLoaded()).map((m) => m.identifier), ["fake-echo-1b", "fake-vision-2b"]);
});

await check("embeddings", async () => {
  const model = await client.embedding.model("fake-embed-small");
  const { embedding } = await model.embed("the red car");
  assert.equal(embedding.length, 768);
  assert.deepEqual((await model.embed("the red car")).embedding, embedding);
});

await check("tokenize and count tokens", async () => {
  const model = await client.llm.model("fake-echo-1b");
  const tokens = await model.tokenize("Hello, world!");
  assert.equal(tokens.length, await model.countTokens("Hello, world!"));
});

await check("files and images", async () => {
  const image = await client.files.prepareImageBase64("pixel.png", PNG_BASE64);
  assert.equal(image.type, "image");
  const text = await client.files.prepareFileBase64("notes.txt", Buffer.from("some notes").toString("base64"));
  assert.equal(text.type, "text/plain");
  const model = await client.llm.model("fake-vision-2b");
  const result = await model.respond([{ role: "user", content: "What is this?", images: [image] }]);
  assert.equal(result.content, "I see 1 image. You said: What is this?");
});

await check("clean dispose", async () => {
  await client[Symbol.asyncDispose]();
});

const failed = results.filter(([, ok]) => !ok).length;
console.log(`${results.length - failed}/${results.length} lmstudio-js checks passed`);
process.exit(failed ? 1 : 0);
