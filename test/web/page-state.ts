import type { Locator, Page } from 'playwright-core';

// The functions run in the browser. The tests are type-checked without the DOM's types, so
// each names the little of the DOM it uses.

interface InPage {
  document: { activeElement: unknown; documentElement: { scrollWidth: number } };
  innerWidth: number;
}

/** Whether the element has the keyboard focus. */
export async function isFocused(locator: Locator): Promise<boolean> {
  return locator.evaluate((element: { ownerDocument: InPage['document'] }) => element === element.ownerDocument.activeElement);
}

/** Whether the page fits its viewport's width (nothing scrolls sideways but inner scrollers). */
export async function fitsTheWidth(page: Page): Promise<boolean> {
  return page.evaluate(() => {
    const window = globalThis as unknown as InPage;
    return window.document.documentElement.scrollWidth <= window.innerWidth;
  });
}
