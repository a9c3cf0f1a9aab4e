import { afterEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { chromiumPath, launchChromium, PAGE_OPTIONS } from '../support/chromium.ts';

// The browser tests need nothing from apt: a Chromium named by HALTLAB_CHROMIUM, else Debian's,
// else the one inside the @sparticuz/chromium devDependency; and the page's locale is pinned.

const saved = process.env.HALTLAB_CHROMIUM;
afterEach(() => {
  if (saved === undefined) delete process.env.HALTLAB_CHROMIUM;
  else process.env.HALTLAB_CHROMIUM = saved;
});

describe('the browser tests’ Chromium', () => {
  it('is the one HALTLAB_CHROMIUM names, and a wrong name is an error saying so', async () => {
    process.env.HALTLAB_CHROMIUM = '/no/such/chromium';
    await expect(chromiumPath()).rejects.toThrow('HALTLAB_CHROMIUM=/no/such/chromium: no such file');
  });

  it('else Debian’s, else the npm package’s, and it launches with the locale pinned to en-US', async () => {
    delete process.env.HALTLAB_CHROMIUM;
    const path = await chromiumPath();
    if (existsSync('/usr/bin/chromium')) expect(path).toBe('/usr/bin/chromium');
    expect(existsSync(path)).toBe(true);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage(PAGE_OPTIONS);
      // Under en-US@posix this throws, and uPlot (which formats with it) never loads.
      expect(await page.evaluate('new Intl.NumberFormat(navigator.language).format(1234.5)')).toBe('1,234.5');
    } finally {
      await browser.close();
    }
  }, 60_000);
});
