// Builds delete-review.html, the MCP App view embedded in the binary (tools/app.go), from
// page.html, view.css and view.js: the ext-apps App client is bundled in with esbuild, and
// the page carries a CSP that allows exactly its one script and one style (by hash), and
// nothing else: no network, no images, no frames, no forms.
//
// Run with `make appview` (needs `npm ci` in e2e/, which pins esbuild and ext-apps).
import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const e2e = join(here, '..', '..', 'e2e');
const esbuild = createRequire(join(e2e, 'package.json'))('esbuild');

const out = await esbuild.build({
  entryPoints: [join(here, 'view.js')],
  bundle: true,
  write: false,
  minify: true,
  format: 'iife',
  platform: 'browser',
  target: 'es2020',
  legalComments: 'none',
  nodePaths: [join(e2e, 'node_modules')],
  logLevel: 'warning',
});
// An inline script ends at the first "</script": none may be inside it.
const js = out.outputFiles[0].text.trim().replaceAll('</script', '<\\/script');
const css = readFileSync(join(here, 'view.css'), 'utf8').trim();
const sha = (s) => `'sha256-${createHash('sha256').update(s).digest('base64')}'`;
const csp = [
  "default-src 'none'",
  `script-src ${sha(js)}`,
  `style-src ${sha(css)}`,
  "img-src 'none'",
  "connect-src 'none'",
  "font-src 'none'",
  "frame-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');
const page = readFileSync(join(here, 'page.html'), 'utf8')
  .replace('__CSP__', () => csp)
  .replace('__CSS__', () => css)
  .replace('__JS__', () => js);
writeFileSync(join(here, 'delete-review.html'), page);
console.error(`delete-review.html: ${Buffer.byteLength(page)} bytes (script ${Buffer.byteLength(js)})`);
