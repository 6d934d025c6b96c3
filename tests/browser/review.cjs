// A CSB user reviews a public notice (Art. 19 [通报办法]) in headless Chromium driven by
// playwright-core: logs in, sees on the dashboard that drafts wait, opens the review list and
// the report's draft, rewrites its analysis line and approves it. Screenshots go into the
// folder given.
// Usage: node review.cjs BASE_URL SCREENSHOT_DIR USER PASSWORD REPORT_ID ANALYSIS; prints what it saw as JSON.
const { chromium } = require('playwright-core');

const [base, shots, user, password, report, analysis] = process.argv.slice(2);

(async () => {
  const browser = await chromium.launch({ executablePath: process.env.TONGBAO_TEST_CHROMIUM, args: ['--no-sandbox'] });
  const seen = {};
  try {
    const page = await (await browser.newContext({ locale: 'zh-CN' })).newPage();
    await page.goto(`${base}/login`);
    await page.fill('#name', user);
    await page.fill('#password', password);
    await Promise.all([page.waitForURL(`${base}/console`), page.click('button[type=submit]')]);
    seen.awaiting_on_dashboard = Number(await page.locator('#awaiting-review').textContent());
    await Promise.all([page.waitForURL(`${base}/console/review`), page.click('header >> text=通告审核')]);
    seen.waiting_rows = await page.locator('#waiting tr').count();
    await page.screenshot({ path: `${shots}/review-list.png`, fullPage: true });
    await Promise.all([page.waitForURL(`${base}/console/review/${report}`), page.click(`#waiting a[href$="${report}"]`)]);
    const lines = (await page.inputValue('#lines')).split('\n').filter((l) => l.trim());
    seen.drafted_lines = lines;
    const edited = lines.map((l) => (l.startsWith('态势分析') ? `态势分析：${analysis}` : l));
    await page.fill('#lines', edited.join('\n'));
    seen.recipients = await page.inputValue('#recipients');
    await page.screenshot({ path: `${shots}/review-draft.png`, fullPage: true });
    await Promise.all([page.waitForURL(`${base}/console/review`), page.click('#approve')]);
    seen.approved_listed = await page.locator(`#approved a[href$="${report}"]`).count();
    await page.screenshot({ path: `${shots}/review-list-after.png`, fullPage: true });
    await page.goto(`${base}/console/review/${report}`);
    seen.decision = (await page.locator('#decision').textContent()).trim();
    seen.may_still_approve = await page.locator('#approve').count();
    await page.screenshot({ path: `${shots}/review-approved.png`, fullPage: true });
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(seen));
})().catch((e) => { console.error(e); process.exit(1); });
