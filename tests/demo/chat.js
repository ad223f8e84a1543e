// Drives the demo chat (examples/demo) the way two people would, in headless Chromium.
//
// Usage: node chat.js '<config JSON>'
//   config = {
//     url:        "http://127.0.0.1:PORT/"   the demo server
//     chromium:   "/usr/bin/chromium"        the browser (playwright-core drives it; no download)
//     polling:    bool                       tick "Force long-polling only" on the page
//     eio3:       bool                       tick "EIO 3 (engine.io-client 3)" on the page
//     artifacts:  dir                        where the screenshots go
//     prefix:     string                     screenshot file name prefix
//     timeoutMs:  number                     bound of every wait on the page
//   }
// Prints one JSON line: {ok, steps, screenshots, error?, step?, pages?} and exits 0 when ok.
// Every wait is on a condition of the page, bounded by timeoutMs; there is no fixed sleep.
"use strict";

const path = require("path");
const { chromium } = require("playwright-core");

const config = JSON.parse(process.argv[2]);
const timeout = config.timeoutMs || 15000;
const result = { ok: false, steps: [], screenshots: [] };
let current = "start";
const pageErrors = [];

function step(name) {
  current = name;
  result.steps.push(name);
}

async function waitText(page, selector, expected, what) {
  const locator = page.locator(selector, { hasText: expected });
  try {
    await locator.first().waitFor({ timeout });
  } catch (err) {
    const shown = await page.locator(selector).allInnerTexts().catch(() => ["<page gone>"]);
    throw new Error(`${what}: expected ${selector} to show ${expected}, it shows ${JSON.stringify(shown)}`);
  }
}

async function waitGone(page, selector, text, what) {
  try {
    await page.locator(selector, { hasText: text }).first().waitFor({ state: "detached", timeout });
  } catch (err) {
    const shown = await page.locator(selector).allInnerTexts().catch(() => ["<page gone>"]);
    throw new Error(`${what}: expected ${text} to leave ${selector}, it shows ${JSON.stringify(shown)}`);
  }
}

async function snapshot(page) {
  const texts = async (selector) => page.locator(selector).allInnerTexts().catch(() => []);
  return {
    url: page.url(),
    state: await texts("#state"),
    transport: await texts("#transport"),
    protocol: await texts("#protocol"),
    who: await texts("#who li"),
    messages: await texts("#messages li"),
  };
}

async function screenshot(page, who) {
  const file = path.join(config.artifacts, `${config.prefix}-${who}.png`);
  await page.screenshot({ path: file, fullPage: true, timeout });
  result.screenshots.push(file);
}

async function openChat(browser, who) {
  const context = await browser.newContext({ viewport: { width: 900, height: 640 } });
  const page = await context.newPage();
  page.setDefaultTimeout(timeout);
  page.on("pageerror", (err) => pageErrors.push(`${who}: ${err.message}`));
  await page.goto(config.url);
  // Use the switches on the page, as a person would. Each one reloads the page, so
  // click() rather than check(): check() reads the box back at once and may find the
  // reloaded page's box before its script has ticked it. waitForURL waits for the
  // navigation to commit only: its default, the "load" event, once never came within
  // 15 s in CI under forced long-polling while the page was open and polling (what
  // follows waits for the page itself).
  const flip = async (label, url, id) => {
    await page.getByLabel(label).click();
    await page.waitForURL(url, { waitUntil: "commit" });
    await page.waitForFunction((box) => document.getElementById(box)?.checked === true, id);
  };
  if (config.polling) await flip("Force long-polling only", /[?&]polling=1/, "polling-switch");
  if (config.eio3) await flip("EIO 3 (engine.io-client 3)", /[?&]eio=3/, "eio3-switch");
  await waitText(page, "#state", /^open$/, `${who}'s connection`);
  await waitText(page, "#protocol", config.eio3 ? "EIO 3 (engine.io-client 3)" : "EIO 4 (engine.io-client 6)",
                 `${who}'s protocol`);
  return page;
}

async function join(page, name) {
  await page.getByLabel("Your name").fill(name);
  await page.getByRole("button", { name: "Join" }).click();
  await page.getByRole("button", { name: "Leave" }).waitFor();
}

async function post(page, text) {
  await page.getByLabel("Message", { exact: true }).fill(text);
  await page.getByRole("button", { name: "Send" }).click();
}

async function main() {
  const args = ["--disable-dev-shm-usage"];
  if (process.getuid && process.getuid() === 0) args.push("--no-sandbox"); // Chromium refuses root otherwise
  const browser = await chromium.launch({ executablePath: config.chromium, args, timeout });
  const pages = {};
  try {
    step("open two pages");
    pages.alice = await openChat(browser, "alice");
    pages.bob = await openChat(browser, "bob");
    const { alice, bob } = pages;

    step("join");
    await join(alice, "alice");
    await join(bob, "bob");

    step("see who is here");
    const transport = config.polling ? "polling" : "websocket";
    for (const [page, me, other] of [[alice, "alice", "bob"], [bob, "bob", "alice"]]) {
      await waitText(page, "#who li", `${me} (you) · ${transport}`, `${me}'s who list`);
      await waitText(page, "#who li", new RegExp(`^${other} · ${transport}$`), `${me}'s who list`);
    }

    step("transport shown");
    const shown = config.polling ? "polling (forced)" : "websocket (upgraded from polling)";
    await waitText(alice, "#transport", shown, "alice's transport");
    await waitText(bob, "#transport", shown, "bob's transport");

    step("alice posts, bob sees it");
    const tricky = `hello from alice <b id="bold">not bold</b> & <img src=x onerror="window.pwned=1">`;
    await post(alice, tricky);
    await waitText(bob, "#messages li.post", `alice: ${tricky}`, "bob's messages");
    await waitText(alice, "#messages li.post", `alice: ${tricky}`, "alice's messages");

    step("user text stays text");
    for (const [who, page] of Object.entries(pages)) {
      const markup = await page.locator("#messages b, #messages img").count();
      const pwned = await page.evaluate(() => window.pwned);
      if (markup !== 0 || pwned !== undefined) {
        throw new Error(`${who}'s page turned a message into markup (${markup} elements, pwned=${pwned})`);
      }
    }

    step("bob answers, alice sees it");
    await post(bob, "hi alice, bob here");
    await waitText(alice, "#messages li.post", "bob: hi alice, bob here", "alice's messages");

    step("screenshots");
    await screenshot(alice, "alice");
    await screenshot(bob, "bob");

    step("still on the same transport");
    await waitText(alice, "#transport", shown, "alice's transport at the end");
    await waitText(bob, "#transport", shown, "bob's transport at the end");

    step("bob leaves");
    await bob.getByRole("button", { name: "Leave" }).click();
    await waitText(alice, "#messages li.info", "bob left", "alice's messages");
    await waitGone(alice, "#who li", /^bob /, "alice's who list");

    if (pageErrors.length) throw new Error(`errors in the page: ${pageErrors.join("; ")}`);
    result.ok = true;
  } catch (err) {
    result.error = String(err && err.message ? err.message : err);
    result.step = current;
    result.pages = {};
    for (const [who, page] of Object.entries(pages)) {
      result.pages[who] = await snapshot(page);
      await screenshot(page, `${who}-failed`).catch(() => {});
    }
    if (pageErrors.length) result.pageErrors = pageErrors;
  } finally {
    await browser.close();
  }
}

main()
  .catch((err) => {
    result.error = `driver: ${err && err.stack ? err.stack : err}`;
    result.step = current;
  })
  .finally(() => {
    process.stdout.write(JSON.stringify(result) + "\n");
    process.exit(result.ok ? 0 : 1);
  });
