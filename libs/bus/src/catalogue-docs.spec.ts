import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { catalogueMarkdown } from './catalogue.js';

describe('messaging catalogue docs', () => {
  it('docs/architecture.md holds the table generated from the catalogue', () => {
    const doc = readFileSync(new URL('../../../docs/architecture.md', import.meta.url), 'utf8');
    const table = /<!-- catalogue:start -->\n([\s\S]*?)\n<!-- catalogue:end -->/.exec(doc)?.[1];
    expect(table, 'regenerate the table: node -e "import(\'@aigc/bus\').then(m => console.log(m.catalogueMarkdown()))"').toBe(catalogueMarkdown().trim());
  });
});
