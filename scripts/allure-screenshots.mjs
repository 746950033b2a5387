// Screenshots of a failed check in a generated Allure 3 report, for docs/reports.md:
//   node scripts/allure-screenshots.mjs REPORT_DIR OUT_DIR
// Serves REPORT_DIR on 127.0.0.1 (python -m http.server on a free port) and drives Debian's
// headless Chromium ($CHROMIUM, default /usr/bin/chromium) with playwright-core; every request
// that is not to that server is aborted (the report embeds an analytics script).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const [reportDir, outDir] = process.argv.slice(2);
const CHECK = 'test_document_route_answers_with_the_baseline_status_and_shape';
const PASSED_SHOWN = 3; // passed steps shown below the failed one

const results = join(reportDir, 'data', 'test-results');
const check = readdirSync(results)
  .map((name) => JSON.parse(readFileSync(join(results, name), 'utf8')))
  .find((result) => result.name === CHECK && result.status === 'failed');
if (!check) throw new Error(`no failed ${CHECK} in ${reportDir}`);

// Port 0: the server binds a free port and prints it once it listens.
const server = spawn(
  process.env.PYTHON || 'python3',
  ['-u', '-m', 'http.server', '--bind', '127.0.0.1', '--directory', reportDir, '0'],
  { stdio: ['ignore', 'pipe', 'ignore'] },
);
const profile = mkdtempSync(join(tmpdir(), 'allure-shots-'));
let browser;
try {
  let port;
  for await (const line of createInterface({ input: server.stdout })) {
    port = /port (\d+)/.exec(line)?.[1];
    if (port) break;
  }
  if (!port) throw new Error('http.server did not start');
  const origin = `http://127.0.0.1:${port}`;

  browser = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
    viewport: { width: 1400, height: 2200 },
    deviceScaleFactor: 1.5,
  });
  await browser.route((url) => url.origin !== origin, (route) => route.abort());
  const page = browser.pages()[0] ?? (await browser.newPage());
  await page.goto(`${origin}/#${check.id}`);

  const steps = page.locator(
    '[data-testid=test-result-steps-root] > [data-testid=test-result-step]',
  );
  const failed = steps.first(); // the failed comparison comes first, open
  const header = failed.locator('[data-testid=test-result-step-header]').first();
  await header.locator('[data-testid=tree-leaf-status-failed]').waitFor();
  const parameters = failed.locator('[data-testid=metadata-list]').first();
  if (!(await parameters.isVisible())) await header.click();
  await parameters.waitFor();
  await page.evaluate(() => document.fonts.ready);
  // The report's white card, from `above` px above `top` to the end of `bottom`.
  const column = await page.locator('[data-testid=test-result-fullname]').evaluate((el) => {
    while (getComputedStyle(el).backgroundColor === 'rgba(0, 0, 0, 0)') el = el.parentElement;
    const { x, width } = el.getBoundingClientRect();
    return { x, width };
  });
  const shoot = async (name, top, bottom, above = 8) => {
    const [from, to] = [await top.boundingBox(), await bottom.boundingBox()];
    const y = from.y - above;
    await page.screenshot({
      path: join(outDir, name),
      clip: { ...column, y, height: to.y + to.height + 1 - y },
    });
  };
  const scrollTo = (locator) =>
    locator.evaluate((el) => {
      el.scrollIntoView({ block: 'start' });
      document.querySelector('[data-testid=base-layout]').scrollBy(0, -24);
    });

  // The overview: the failure, severity, category, labels, docs link.
  await shoot('allure-failed-check.png', page.locator('[data-testid=test-result-fullname]'),
    page.locator('[data-testid=test-result-meta-links]'));

  // The failed step first, expanded: status, parameters, message, its table open.
  const attachments = failed.locator('[data-testid=test-result-attachment]');
  const [table, evidence] = [attachments.nth(0), attachments.nth(1)];
  const open = (attachment) =>
    attachment.locator('[data-testid=test-result-attachment-header] > button').click();
  await open(table);
  const frame = table.locator('[data-testid=html-attachment-preview] iframe');
  await frame.contentFrame().locator('td').last().waitFor();
  await page.waitForFunction(
    (el) => Number(el.getAttribute('height')) > 0,
    await frame.elementHandle(),
  );
  const body = page.getByText('Test body', { exact: true });
  await scrollTo(body);
  await shoot('allure-failed-step.png', body, steps.nth(PASSED_SHOWN));

  // Its evidence, the verdict as JSON.
  await open(table);
  await frame.waitFor({ state: 'hidden' });
  await open(evidence);
  const json = evidence.locator('[data-testid=code-attachment-content]');
  await json.waitFor();
  await scrollTo(table);
  await shoot('allure-step-evidence.png', table, json, 0);
} finally {
  await browser?.close();
  if (server.exitCode === null && server.kill()) await once(server, 'exit');
  rmSync(profile, { recursive: true, force: true });
}
