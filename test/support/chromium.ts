import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContextOptions } from 'playwright-core';

/**
 * A headless Chromium for the browser tests, with nothing from apt needed:
 * HALTLAB_CHROMIUM if set, else Debian's /usr/bin/chromium, else the one
 * shipped inside the @sparticuz/chromium npm package (a devDependency,
 * unpacked to the temp folder on first use). playwright-core brings none.
 */

const DEBIAN = '/usr/bin/chromium';

export async function chromiumPath(): Promise<string> {
  const chosen = process.env.HALTLAB_CHROMIUM;
  if (chosen) {
    if (!existsSync(chosen)) throw new Error(`HALTLAB_CHROMIUM=${chosen}: no such file`);
    return chosen;
  }
  if (existsSync(DEBIAN)) return DEBIAN;
  const { default: packaged } = await import('@sparticuz/chromium');
  packaged.setGraphicsMode = false; // no WebGL needed: skip unpacking SwiftShader
  return packaged.executablePath();
}

// Without the background-networking flags Chromium keeps dialling out.
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: await chromiumPath(), args: ARGS });
}

/**
 * Page options every browser test uses. The locale is pinned: headless
 * Chromium takes it from LANG, and under the default `en-US@posix`
 * Intl.NumberFormat throws, which stops uPlot from loading.
 */
export const PAGE_OPTIONS: BrowserContextOptions = { locale: 'en-US' };
