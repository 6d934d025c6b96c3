// Every console page a user can reach, in headless Chromium driven by playwright-core: the user
// logs in and follows the links the pages show (one page of each kind: the first report's
// timeline stands for all timelines), downloads what the pages offer, and notes each page's
// status, heading, error messages and script errors. A screenshot of each kind of page goes
// into the folder given.
// Usage: node walk.cjs BASE_URL SCREENSHOT_DIR PASSWORD USER...; prints what it saw as JSON:
// { user: [{ path, kind, status, h1, errors, script_errors }], ... } and the downloads.
const { chromium } = require('playwright-core');

const [base, shots, password, ...users] = process.argv.slice(2);
const expect = (ok, what) => { if (!ok) throw new Error(`expected: ${what}`); };

// One kind of page per route: identifiers (report ids, unit codes, months) become ":id", and
// the query's names are kept without their values.
const kindOf = (href) => {
  const url = new URL(href, base);
  const path = url.pathname
    .split('/')
    .map((s) => (/^[0-9a-f]{8}-[0-9a-f-]{27}$/.test(s) || /^[A-Z0-9]+(-[A-Z0-9]+)+$/.test(s) || /^[A-Z]{2,}$/.test(s) || /^\d{4}-\d{2}$/.test(s) ? ':id' : s))
    .join('/');
  const names = [...url.searchParams.keys()].filter((k) => k !== 'after').sort();
  return names.length ? `${path}?${names.join('&')}` : path;
};
const isDownload = (path) => /\/raw$|\.(png|xlsx)$/.test(path);

(async () => {
  const browser = await chromium.launch({ executablePath: process.env.TONGBAO_TEST_CHROMIUM, args: ['--no-sandbox'] });
  const seen = { pages: {}, downloads: {} };
  try {
    for (const user of users) {
      const page = await (await browser.newContext({ locale: 'zh-CN' })).newPage();
      const scriptErrors = [];
      page.on('pageerror', (e) => scriptErrors.push(String(e)));
      await page.goto(`${base}/login`);
      await page.fill('#name', user);
      await page.fill('#password', password);
      await Promise.all([page.waitForURL(`${base}/console`), page.click('button[type=submit]')]);
      const visited = new Set();
      const queue = [`${base}/console`];
      seen.pages[user] = [];
      seen.downloads[user] = [];
      while (queue.length && seen.pages[user].length < 60) {
        const href = queue.shift();
        const url = new URL(href, base);
        if (url.origin !== new URL(base).origin || !url.pathname.startsWith('/console')) continue;
        const kind = kindOf(href);
        if (visited.has(kind)) continue;
        visited.add(kind);
        if (isDownload(url.pathname)) {
          const r = await page.request.get(url.href);
          seen.downloads[user].push({ path: url.pathname, kind, status: r.status(), type: r.headers()['content-type'], bytes: (await r.body()).length });
          continue;
        }
        const before = scriptErrors.length;
        const response = await page.goto(url.href);
        const h1 = (await page.locator('h1').first().textContent().catch(() => '')).replace(/\s+/g, ' ').trim();
        const errors = (await page.locator('.error').allTextContents()).map((t) => t.trim()).filter(Boolean);
        seen.pages[user].push({ path: url.pathname + url.search, kind, status: response.status(), h1, errors, script_errors: scriptErrors.slice(before) });
        const file = kind.replace(/^\/console\/?/, '').replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '') || 'dashboard';
        await page.screenshot({ path: `${shots}/${user}-${file}.png`, fullPage: true });
        for (const a of await page.locator('a[href]').evaluateAll((links) => links.map((l) => l.href))) queue.push(a);
      }
      expect(seen.pages[user].length > 0, `${user} reached a page`);
    }
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(seen));
})().catch((e) => { console.error(e); process.exit(1); });
