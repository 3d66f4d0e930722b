// The TypeScript-SDK peer of `make bench` (internal/bench): a minimal MCP server over stdio written
// with the official SDK's low-level Server (the leanest way the SDK offers: no zod schemas of our
// own, no McpServer), offering get_task and list_tasks against the same Tallyfy API the Go server
// is pointed at, configured by the same variables (TALLYFY_BASE_URL, TALLYFY_ORG_ID,
// TALLYFY_ACCESS_TOKEN). The benchmark times spawn → initialize → tools/list answered for both
// servers side by side; bench-peer.test.mjs checks that this peer really answers, so the
// benchmark cannot time a crash.
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';

const base = process.env.TALLYFY_BASE_URL;
const org = process.env.TALLYFY_ORG_ID;
const token = process.env.TALLYFY_ACCESS_TOKEN;

const tools = [
  {
    name: 'get_task',
    description: 'One Tallyfy task by its ID.',
    inputSchema: { type: 'object', properties: { task_id: { type: 'string', description: 'The task ID.' } }, required: ['task_id'] },
    path: (args) => `/tasks/${encodeURIComponent(String(args.task_id ?? ''))}`,
  },
  {
    name: 'list_tasks',
    description: 'One page of Tallyfy one-off tasks.',
    inputSchema: { type: 'object', properties: { page: { type: 'integer', minimum: 1 } } },
    path: (args) => `/tasks?page=${Number(args.page) || 1}`,
  },
];

const server = new Server({ name: 'bench-peer', version: '0.0.0' }, { capabilities: { tools: {} } });

server.setRequestHandler(ListToolsRequestSchema, async () => ({
  tools: tools.map(({ name, description, inputSchema }) => ({ name, description, inputSchema })),
}));

server.setRequestHandler(CallToolRequestSchema, async (req) => {
  const tool = tools.find((t) => t.name === req.params.name);
  if (!tool) return { isError: true, content: [{ type: 'text', text: `unknown tool ${req.params.name}` }] };
  const res = await fetch(`${base}/organizations/${org}${tool.path(req.params.arguments ?? {})}`, {
    headers: { Authorization: `Bearer ${token}`, Accept: 'application/json', 'X-Tallyfy-Client': 'APIClient' },
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) return { isError: true, content: [{ type: 'text', text: `Tallyfy answered ${res.status}` }] };
  return { content: [{ type: 'text', text: JSON.stringify(body.data ?? body) }] };
});

await server.connect(new StdioServerTransport());
