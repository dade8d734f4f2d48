import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Hono } from 'hono';

// Swagger UI's assets come from the swagger-ui-dist package and are served by Tandem itself, so
// the docs page works on machines without internet access.
const assetDir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const assets: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
};

export function docsRoutes(specUrl: string) {
  const app = new Hono();
  app.get('/', (c) =>
    c.html(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tandem API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="docs/assets/swagger-ui.css"></head>
<body><div id="ui"></div><script src="docs/assets/swagger-ui-bundle.js"></script>
<script src="docs/assets/init.js"></script></body></html>`),
  );
  app.get('/assets/init.js', (c) =>
    c.body(`window.ui = SwaggerUIBundle({ url: ${JSON.stringify(specUrl)}, dom_id: '#ui', persistAuthorization: true });`, 200, {
      'content-type': 'text/javascript; charset=utf-8',
    }),
  );
  app.get('/assets/:name', async (c) => {
    const name = c.req.param('name');
    const type = assets[name];
    if (!type) return c.notFound();
    return c.body(await readFile(join(assetDir, name)), 200, { 'content-type': type, 'cache-control': 'public, max-age=86400' });
  });
  return app;
}
