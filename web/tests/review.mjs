// review.mjs - end-to-end test of the exported review page in headless
// Chromium (Debian's /usr/bin/chromium driven by playwright-core; no browser
// download). Opens the page from file://, rates candidates by keyboard, adds a
// label with the autocomplete, reloads, exports the ratings file, and checks
// that hostile text from the data is shown as text and runs nothing.
//
//   node web/tests/review.mjs --page DIR --out DIR [--hostile DIR]
//        [--screenshot FILE] [--chromium PATH]
//
// --page: an export folder (review export --out) with at least 4 candidates.
// --out: where ratings.json (the downloaded file) and expected.json (what the
//   test entered) are written. --hostile: an export whose class name and
//   description are hostile (the test checks they stay text), in an ontology
//   with a second class whose name holds "onerror".
// Prints TAP-style "ok - ..." / "not ok - ..." lines; exit 1 on any failure.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
if (!args.page || !args.out) {
  console.error('usage: review.mjs --page DIR --out DIR [--hostile DIR] [--screenshot FILE]');
  process.exit(2);
}
const CHROMIUM = args.chromium || process.env.AEDCURATE_CHROMIUM || '/usr/bin/chromium';
const ANNOTATOR = 'tester-1';
const HOSTILE_COMMENT = '<img src=x onerror=alert(1)></script><script>window.__pwned=1</script>';

let failed = 0;
function ok(cond, what, detail) {
  if (cond) console.log(`ok - ${what}`);
  else {
    failed++;
    console.log(`not ok - ${what}${detail !== undefined ? ` (${detail})` : ''}`);
  }
}

const events = { dialogs: [], errors: [], network: [] };
function watch(page) {
  page.on('dialog', async (d) => { events.dialogs.push(d.message()); await d.dismiss(); });
  page.on('pageerror', (e) => events.errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') events.errors.push(m.text()); });
  page.on('request', (r) => { if (!/^(file|blob|data):/.test(r.url())) events.network.push(r.url()); });
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--autoplay-policy=no-user-gesture-required', '--allow-file-access-from-files'],
});
try {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(10000);
  const page = await context.newPage();
  watch(page);
  const url = pathToFileURL(path.resolve(args.page, 'index.html')).href;
  await page.goto(url);
  const data = await page.evaluate(() => window.AED_DATA);
  ok(data && Array.isArray(data.candidates) && data.candidates.length >= 4,
    'the page loads its data from candidates.js without fetch()', data && data.candidates.length);
  const N = data.candidates.length;

  // The annotator id is asked once.
  ok(await page.isVisible('#login'), 'the annotator id is asked on first use');
  await page.fill('#annotator-input', ANNOTATOR);
  await page.press('#annotator-input', 'Enter');
  ok(!(await page.isVisible('#login')) && (await page.textContent('#annotator')) === ANNOTATOR,
    'the annotator is shown after the login');
  ok((await page.textContent('#class-name')) === data.class.name, 'the class to judge is shown');
  ok((await page.textContent('#class-desc')) === data.class.description, 'its description is shown');
  ok((await page.textContent('#class-path')).endsWith(data.class.name), 'its ontology path is shown');
  ok((await page.textContent('#progress-text')).trim() === `0 / ${N} rated`, 'progress starts at 0');

  // Media: the spectrogram image and the Opus clip.
  await page.waitForFunction(() => document.getElementById('spec').complete);
  const img = await page.evaluate(() => {
    const i = document.getElementById('spec');
    return { w: i.naturalWidth, h: i.naturalHeight };
  });
  ok(img.w > 50 && img.h === 128, 'the log-mel image loads', JSON.stringify(img));
  const best = await page.evaluate(() => getComputedStyle(document.getElementById('best')).width);
  ok(parseFloat(best) > 0, 'the best 0.96 s patch is marked', best);
  ok(await page.evaluate(() => document.getElementById('audio').canPlayType('audio/ogg; codecs=opus') !== ''),
    'Chromium can play the Ogg Opus clip');
  await page.keyboard.press('Space');
  let played = true;
  try {
    await page.waitForFunction(() => document.getElementById('audio').currentTime > 0.2, null, { timeout: 8000 });
  } catch (e) {
    played = false;
  }
  ok(played, 'space plays the clip');
  const head = await page.evaluate(() => parseFloat(document.getElementById('playhead').style.left));
  ok(head > 0, 'the playhead moves with playback', head);
  await page.keyboard.press('Space');
  await page.waitForTimeout(100);
  ok(await page.evaluate(() => document.getElementById('audio').paused), 'space pauses');

  // Rate the first four by keyboard; the second gets a label and a comment.
  const expected = [];
  await page.keyboard.press('p');
  expected.push({ candidate: data.candidates[0].id, answer: 'present' });
  ok((await page.textContent('#pos')) === '2', 'P rates and moves to the next candidate');

  await page.click('#label-input');
  await page.keyboard.type('guitar');
  await page.waitForSelector('#label-suggest li');
  const sugg = await page.$$eval('#label-suggest li', (lis) => lis.map((l) => l.textContent));
  ok(sugg.length > 0 && sugg.every((s) => /guitar/i.test(s)), 'the autocomplete suggests ontology names', sugg.join('|'));
  await page.keyboard.press('Enter');
  const chip = await page.textContent('#label-chips li span');
  const labelMid = data.ontology.find((o) => o[1] === chip)?.[0];
  ok(labelMid && /guitar/i.test(chip), 'Enter adds the first suggestion as a label', chip);
  await page.keyboard.type(data.class.name);
  await page.waitForTimeout(100);
  const judged = await page.$$eval('#label-suggest li .mid', (s) => s.map((x) => x.textContent));
  ok(!judged.includes(data.class.mid), 'the class judged is not offered as a missing label', judged.join('|'));
  await page.fill('#label-input', '');
  await page.click('#comment');
  await page.keyboard.type(HOSTILE_COMMENT);
  await page.keyboard.press('Escape');
  await page.keyboard.press('n');
  expected.push({ candidate: data.candidates[1].id, answer: 'not_present', labels: [labelMid], comment: HOSTILE_COMMENT });
  await page.keyboard.press('u');
  expected.push({ candidate: data.candidates[2].id, answer: 'unsure' });
  await page.keyboard.press('ArrowLeft');
  ok((await page.textContent('#pos')) === '3' && (await page.textContent('#cand-answer')) === 'Unsure',
    '← goes back and shows the answer given');
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('a');
  expected.push({ candidate: data.candidates[3].id, answer: 'not_acoustic' });
  ok((await page.textContent('#progress-text')).trim() === `4 / ${N} rated`, 'progress counts 4 rated');
  // The mouse works too: change nothing, but the buttons exist and are labelled.
  ok((await page.$$('.answers button')).length === 4, 'four answer buttons for the mouse');

  // A reload keeps everything (localStorage), and asks no annotator again.
  await page.reload();
  ok(!(await page.isVisible('#login')), 'after a reload the annotator is not asked again');
  ok((await page.textContent('#progress-text')).trim() === `4 / ${N} rated`, 'after a reload the ratings are kept');
  const lastPos = Math.min(5, N); // 'a' on the 4th moved on to the 5th, if any
  ok((await page.textContent('#pos')) === String(lastPos), 'after a reload the position is kept');
  for (let i = lastPos; i > 2; i--) await page.keyboard.press('ArrowLeft');
  ok((await page.textContent('#pos')) === '2', '← goes back to the second candidate');
  ok((await page.textContent('#cand-answer')) === 'Not present', 'after a reload the answer is kept');
  ok((await page.inputValue('#comment')) === HOSTILE_COMMENT, 'the hostile comment is kept as plain text');
  ok((await page.textContent('#label-chips li span')) === chip, 'the added label is kept');

  // The mouse: the checkbox takes focus, keys must still work; a button rates.
  if (N >= 5) {
    await page.click('#advance');
    await page.click('#advance');
    for (let i = 2; i < 5; i++) await page.keyboard.press('ArrowRight');
    ok((await page.textContent('#pos')) === '5', 'keys work after a click on the checkbox');
    await page.click('.answers button[data-answer="present"]');
    expected.push({ candidate: data.candidates[4].id, answer: 'present' });
    if (N > 5) await page.keyboard.press('ArrowLeft'); // it moved on to the 6th
    ok((await page.textContent('#pos')) === '5' && (await page.textContent('#cand-answer')) === 'Present',
      'a click on Present rates with the mouse');
  }

  // Export: a download of the ratings file.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
  fs.mkdirSync(args.out, { recursive: true });
  const ratingsPath = path.join(args.out, 'ratings.json');
  await download.saveAs(ratingsPath);
  const file = JSON.parse(fs.readFileSync(ratingsPath, 'utf8'));
  ok(file.format === 'aedcurate-ratings' && file.version === 1, 'the ratings file names its format and version');
  ok(file.export_id === data.export_id && file.checksum === data.checksum && file.class === data.class.mid,
    'the ratings file echoes export id, checksum and class');
  ok(file.annotator === ANNOTATOR, 'the ratings file names the annotator');
  ok(file.ratings.length === expected.length, 'the ratings file has one entry per rating', file.ratings.length);
  const same = expected.every((e, i) => {
    const r = file.ratings[i];
    return r && r.candidate === e.candidate && r.answer === e.answer &&
      JSON.stringify(r.labels || []) === JSON.stringify(e.labels || []) &&
      (r.comment || '') === (e.comment || '') && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(r.time);
  });
  ok(same, 'the entries are exactly what was entered, each with its time');
  fs.writeFileSync(path.join(args.out, 'expected.json'), JSON.stringify({ annotator: ANNOTATOR, ratings: expected }, null, 1));

  if (args.screenshot) {
    fs.mkdirSync(path.dirname(args.screenshot), { recursive: true });
    await page.keyboard.press('ArrowRight');
    await page.screenshot({ path: args.screenshot, fullPage: true });
    ok(fs.statSync(args.screenshot).size > 10000, 'a screenshot is written', args.screenshot);
  }
  const injected = await page.evaluate(() => document.querySelectorAll('img:not(#spec), script:not([src])').length);
  ok(injected === 0, 'no element was created from the comment', injected);

  // Hostile ontology text: shown literally, nothing runs.
  if (args.hostile) {
    const hp = await context.newPage();
    watch(hp);
    await hp.goto(pathToFileURL(path.resolve(args.hostile, 'index.html')).href);
    const hd = await hp.evaluate(() => window.AED_DATA);
    ok(hd && hd.candidates.length > 0, 'the hostile page\'s data survives its </script> text');
    ok(!(await hp.isVisible('#login')), 'the annotator is remembered across exports');
    ok((await hp.textContent('#class-name')) === hd.class.name && hd.class.name.includes('<img src=x onerror=alert(1)>'),
      'a hostile class name is shown as literal text', await hp.textContent('#class-name'));
    ok((await hp.textContent('#class-desc')) === hd.class.description && hd.class.description.includes('</script>'),
      'a hostile description is shown as literal text');
    await hp.click('#label-input');
    await hp.keyboard.type('onerror');
    await hp.waitForSelector('#label-suggest li');
    // Another hostile class (the one judged is never offered as a label).
    const other = hd.ontology.find((o) => o[0] !== hd.class.mid && o[1].includes('onerror'));
    const hs = await hp.textContent('#label-suggest li span');
    ok(other && hs === other[1], 'the autocomplete lists a hostile name as text', hs);
    await hp.keyboard.press('Enter');
    ok(other && (await hp.textContent('#label-chips li span')) === other[1], 'the hostile label chip is text');
    await hp.waitForTimeout(300);
    const hi = await hp.evaluate(() => ({
      imgs: document.querySelectorAll('img:not(#spec)').length,
      scripts: document.querySelectorAll('script:not([src])').length,
      pwned: window.__pwned === 1,
    }));
    ok(hi.imgs === 0 && hi.scripts === 0 && !hi.pwned, 'no element from the hostile text, no script ran', JSON.stringify(hi));
    await hp.close();
  }
  ok(events.dialogs.length === 0, 'no alert() ran', events.dialogs.join('|'));
  ok(events.errors.length === 0, 'no script errors', events.errors.join(' | '));
  ok(events.network.length === 0, 'nothing was fetched from a network', events.network.join(' '));
} catch (e) {
  ok(false, 'the browser test ran to its end', e.message.split('\n')[0]);
} finally {
  await browser.close();
}
console.log(`# review.mjs: ${failed ? `${failed} failed` : 'all passed'}`);
process.exit(failed ? 1 : 0);
