// Run by ts_tasks_client.py (copied next to its node_modules): the official TypeScript SDK's experimental
// tasks client, which speaks the 2025-11-25 tasks (the version VS Code implements), against the server.
//
//   node _ts_tasks_checks.mjs stdio HOST:PORT SERVER-COMMAND...
//   node _ts_tasks_checks.mjs http HOST:PORT URL
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, CreateTaskResultSchema } from '@modelcontextprotocol/sdk/types.js';

const [mode, apiHost, ...rest] = process.argv.slice(2);
const LONG_PROMPT = Array.from({ length: 400 }, (_, i) => `w${i}`).join(' ');
const text = (result) => result.content.map((block) => block.text ?? '').join('');

const transport = mode === 'stdio'
  ? new StdioClientTransport({ command: rest[0], args: [...rest.slice(1), '--host', apiHost], stderr: 'inherit' })
  : new StreamableHTTPClientTransport(new URL(rest[0]));
const client = new Client({ name: 'ts-tasks-check', version: '0' }, { capabilities: { tasks: { list: {}, cancel: {} } } });
await client.connect(transport);
// capabilities.tasks is only advertised on a 2025-11-25 handshake, so this also proves the version.
assert.ok(client.getServerCapabilities().tasks?.requests?.tools?.call, 'capabilities.tasks.requests.tools.call');
console.log(`TypeScript SDK tasks client over ${mode} (2025-11-25):`);
const tools = Object.fromEntries((await client.listTools()).tools.map((tool) => [tool.name, tool]));
assert.equal(tools.generate.execution?.taskSupport, 'optional');

const seen = [];
let created;
let result;
const stream = client.experimental.tasks.callToolStream(
  { name: 'generate', arguments: { prompt: 'hello from the TypeScript SDK' } },
  CallToolResultSchema,
  { task: { ttl: 60000 } },
);
for await (const message of stream) {
  seen.push(message.type);
  if (message.type === 'taskCreated') created = message.task;
  if (message.type === 'result') result = message.result;
  if (message.type === 'error') throw message.error;
}
assert.ok(created?.taskId, `a task was created (${seen.join(', ')})`);
assert.equal(text(result), 'You said: hello from the TypeScript SDK');
console.log(`  callToolStream: ${seen.join(' -> ')}: ${text(result)}`);

const task = await client.experimental.tasks.getTask(created.taskId);
assert.equal(task.status, 'completed');
const again = await client.experimental.tasks.getTaskResult(created.taskId, CallToolResultSchema);
assert.equal(text(again), 'You said: hello from the TypeScript SDK');
const listed = await client.experimental.tasks.listTasks();
assert.ok(listed.tasks.some((entry) => entry.taskId === created.taskId), 'tasks/list has the task');
console.log(`  getTask: ${task.status}; getTaskResult: the same result; listTasks: ${listed.tasks.length} task(s)`);

const slow = await client.request(
  { method: 'tools/call', params: { name: 'generate', arguments: { prompt: LONG_PROMPT }, task: { ttl: 60000 } } },
  CreateTaskResultSchema,
);
const cancelled = await client.experimental.tasks.cancelTask(slow.task.taskId);
assert.equal(cancelled.status, 'cancelled');
console.log(`  cancelTask: ${cancelled.status}`);
await client.close();
