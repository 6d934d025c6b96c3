// The console as people use it, in headless Chromium driven by playwright-core: a unit's clerk
// logs in, reads the dashboard, the report list and a report's timeline, and logs out; a
// bureau's officer logs in and sees only its province. Screenshots go into the folder given.
// Usage: node console.cjs BASE_URL SCREENSHOT_DIR PASSWORD OTHER_PROVINCES_REPORT FORM; prints what it saw as JSON.
const { chromium } = require('playwright-core');

const [base, shots, password, otherReport, form] = process.argv.slice(2);
const expect = (ok, what) => { if (!ok) throw new Error(`expected: ${what}`); };

(async () => {
  const browser = await chromium.launch({ executablePath: process.env.TONGBAO_TEST_CHROMIUM, args: ['--no-sandbox'] });
  const seen = {};
  try {
    const login = async (page, name) => {
      await page.goto(`${base}/console`);
      expect(page.url().endsWith('/login'), `no session sends ${name} to /login, at ${page.url()}`);
      await page.fill('#name', name);
      await page.fill('#password', password);
      await Promise.all([page.waitForURL(`${base}/console`), page.click('button[type=submit]')]);
    };

    // A unit's clerk.
    const clerk = await (await browser.newContext({ locale: 'zh-CN' })).newPage();
    await clerk.goto(`${base}/login`);
    await clerk.fill('#name', 'ctgd');
    await clerk.fill('#password', 'not the password');
    await clerk.click('button[type=submit]');
    seen.wrong_password = (await clerk.locator('.error').textContent()).trim();
    await login(clerk, 'ctgd');
    seen.clerk_header = (await clerk.locator('header .who').textContent()).replace(/\s+/g, ' ').trim();
    seen.clerk_today = Number(await clerk.locator('#today-total').textContent());
    await clerk.screenshot({ path: `${shots}/dashboard-unit.png`, fullPage: true });
    // Upload with a preview: the bad cell is marked, then confirmed into a receipt.
    await clerk.click('header >> text=上传报送表');
    await clerk.setInputFiles('#file', form);
    await Promise.all([clerk.waitForURL(`${base}/console/upload`), clerk.click('main button.primary')]);
    seen.preview_bad_cells = await clerk.locator('td.bad').count();
    seen.preview_bad_place = await clerk.locator('td.bad').first().getAttribute('data-place');
    seen.preview_accepted = Number(await clerk.locator('#accepted').textContent());
    await clerk.screenshot({ path: `${shots}/upload-preview-unit.png`, fullPage: true });
    await Promise.all([clerk.waitForURL(/\/console\/upload\/receipts\/[0-9a-f-]+$/), clerk.click('#confirm')]);
    seen.receipt_outcome = (await clerk.locator('#outcome').textContent()).trim();
    seen.receipt_deadlines = (await clerk.locator('#receipt-reports .deadlines').first().textContent()).trim();
    await clerk.screenshot({ path: `${shots}/upload-receipt-unit.png`, fullPage: true });
    await clerk.click('header >> text=报告');
    await clerk.waitForURL(/\/console\/reports/);
    seen.clerk_units = await clerk.locator('#reports tr td:nth-child(2)').allTextContents();
    await clerk.screenshot({ path: `${shots}/reports-unit.png`, fullPage: true });
    await clerk.locator('#reports a').first().click();
    await clerk.waitForURL(/\/console\/reports\/[0-9a-f-]+$/);
    seen.timeline_heading = (await clerk.locator('h1').textContent()).replace(/\s+/g, ' ').trim();
    seen.timeline_obligations = await clerk.locator('#obligations tr').count();
    seen.timeline_download = await clerk.locator('#raw').count();
    await clerk.screenshot({ path: `${shots}/timeline-unit.png`, fullPage: true });
    await Promise.all([clerk.waitForURL(`${base}/login`), clerk.click('header button[type=submit]')]);
    await clerk.goto(`${base}/console`);
    seen.after_logout = new URL(clerk.url()).pathname;

    // A bureau's officer.
    const officer = await (await browser.newContext({ locale: 'zh-CN' })).newPage();
    await login(officer, 'gd');
    seen.officer_today = Number(await officer.locator('#today-total').textContent());
    await officer.goto(`${base}/console/reports`);
    seen.officer_units = await officer.locator('#reports tr td:nth-child(2)').allTextContents();
    await officer.screenshot({ path: `${shots}/reports-bureau.png`, fullPage: true });
    await officer.goto(`${base}/console/obligations?state=due_soon`);
    seen.officer_board = await officer.locator('#parties tr td:first-child').allTextContents();
    await officer.screenshot({ path: `${shots}/obligations-bureau.png`, fullPage: true });
    // Another province's report, asked for by its address: not found.
    const other = await officer.goto(`${base}/console/reports/${otherReport}`);
    seen.other_province_status = other.status();
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(seen));
})().catch((e) => { console.error(e); process.exit(1); });
