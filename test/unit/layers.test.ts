/**
 * The layers' rule, checked on every source file: the stores (db/), Apple's protocol (mdm/), the
 * integrations with Apple and providers (integrations/) and the plain values (domain/, security/)
 * never import the API, the workflows or the activities; the API never imports the activities.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const forbidden: Record<string, string[]> = {
  db: ['api', 'workflows', 'activities', 'worker'],
  mdm: ['api', 'workflows', 'activities', 'worker'],
  integrations: ['api', 'workflows', 'activities', 'worker'],
  domain: ['api', 'workflows', 'activities', 'worker', 'db', 'mdm', 'integrations'],
  security: ['api', 'workflows', 'activities', 'worker'],
  api: ['activities', 'worker'],
};

function sourceFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(root, join(e.parentPath, e.name)));
}

/** Every relative module a file imports or re-exports, statically or dynamically, as a top-level folder. */
export function importedFolders(file: string, text: string): { specifier: string; folder: string }[] {
  const specifiers = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm)].map((m) => m[1]!);
  return specifiers.map((specifier) => ({ specifier, folder: relative(root, resolve(root, dirname(file), specifier)).split(/[\\/]/)[0]! }));
}

describe('layer boundaries', () => {
  it('finds imports of every form', () => {
    const text = "import a from '../api/x.js';\nexport { b } from '../workflows/y.js';\nconst c = await import('../activities/z.js');\nimport '../worker/side.js';";
    expect(importedFolders('db/file.ts', text).map((i) => i.folder)).toEqual(['api', 'workflows', 'activities', 'worker']);
  });

  for (const [layer, banned] of Object.entries(forbidden)) {
    it(`${layer}/ imports nothing from ${banned.join(', ')}`, () => {
      const offences = sourceFiles(layer).flatMap((file) =>
        importedFolders(file, readFileSync(join(root, file), 'utf8'))
          .filter((i) => banned.includes(i.folder))
          .map((i) => `${file} imports ${i.specifier}`),
      );
      expect(offences).toEqual([]);
    });
  }
});
