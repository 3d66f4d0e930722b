// A minimal MCP Apps host page for e2e/app.test.mjs, built on the host side of
// @modelcontextprotocol/ext-apps (AppBridge): it renders a view's HTML in a sandboxed frame
// (scripts only, an opaque origin, as hosts isolate views) and proxies the view's tool calls
// to the test's MCP client (window.hostCallTool, exposed by the test), refusing any tool the
// server did not mark visible to apps. esbuild bundles it when the test starts.
import { AppBridge, PostMessageTransport } from '@modelcontextprotocol/ext-apps/app-bridge';

window.startApp = async ({ html, toolInput, toolResult, appTools }) => {
  const frame = document.createElement('iframe');
  frame.setAttribute('sandbox', 'allow-scripts');
  frame.title = 'Tallyfy delete review';
  frame.style.cssText = 'width: 720px; height: 420px; border: 1px solid #ccc; border-radius: 8px';
  document.body.appendChild(frame);

  const bridge = new AppBridge(null, { name: 'tallyfy-mcp-e2e-host', version: '1.0.0' },
    { serverTools: {}, updateModelContext: { text: {} } });
  bridge.oncalltool = async (params) => {
    if (!appTools.includes(params.name)) throw new Error(`the view may not call ${params.name}: not visible to apps`);
    return window.hostCallTool(params);
  };
  bridge.onupdatemodelcontext = async (params) => {
    await window.hostModelContext(params);
    return {};
  };
  bridge.onsizechange = ({ height }) => {
    if (height) frame.style.height = `${Math.min(height + 4, 900)}px`;
  };
  const initialized = new Promise((resolve) => { bridge.oninitialized = resolve; });
  // The transport talks to the frame's window, which stays the same object when srcdoc loads.
  await bridge.connect(new PostMessageTransport(frame.contentWindow, frame.contentWindow));
  frame.srcdoc = html;
  await initialized;
  await bridge.sendToolInput({ arguments: toolInput });
  await bridge.sendToolResult(toolResult);
};
