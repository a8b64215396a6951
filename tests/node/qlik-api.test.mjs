// Runs Qlik's official TypeScript client, @qlik/api, unchanged against a tenant (normally the qcb
// emulator) to prove the tenant speaks the protocol that client expects. See FINDINGS.md.
//
//   QCB_TENANT=http://127.0.0.1:41234 QCB_API_KEY=… node --test
//
// Optional: QCB_CLIENT_ID + QCB_CLIENT_SECRET (+ QCB_OAUTH_SCOPE) for the OAuth client-credentials
// test; QCB_PAGE_LIMIT (default 2) for the small page size used to exercise paging.
//
// Every API call goes through @qlik/api; there is no raw fetch here.

import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";

import auth from "@qlik/api/auth";
import spaces from "@qlik/api/spaces";
import items from "@qlik/api/items";
import apps from "@qlik/api/apps";
import tempContents from "@qlik/api/temp-contents";
import users from "@qlik/api/users";
import groups from "@qlik/api/groups";
import dataConnections from "@qlik/api/data-connections";
import themes from "@qlik/api/themes";
import extensions from "@qlik/api/extensions";
import webhooks from "@qlik/api/webhooks";
import reloadTasks from "@qlik/api/reload-tasks";
import automations from "@qlik/api/automations";

const TENANT = process.env.QCB_TENANT?.trim().replace(/\/+$/, "");
const API_KEY = process.env.QCB_API_KEY?.trim();
const CLIENT_ID = process.env.QCB_CLIENT_ID?.trim();
const CLIENT_SECRET = process.env.QCB_CLIENT_SECRET?.trim();
const OAUTH_SCOPE = process.env.QCB_OAUTH_SCOPE?.trim();
const SMALL = Number(process.env.QCB_PAGE_LIMIT ?? 2);
/** Guard against a `links.next` that never ends. */
const MAX_PAGES = 2000;
/** How long an export may stay "not ready yet" (204) before the test gives up. */
const EXPORT_TIMEOUT_MS = 60_000;

const SKIP = !TENANT || !API_KEY ? "QCB_TENANT and QCB_API_KEY are not set; nothing to test against" : false;
const SKIP_OAUTH = SKIP || (!CLIENT_ID || !CLIENT_SECRET ? "QCB_CLIENT_ID/QCB_CLIENT_SECRET are not set" : false);

/** @type {import("@qlik/api/auth").HostConfig} */
const hostConfig = { host: TENANT, authType: "apikey", apiKey: API_KEY };
// noCache: @qlik/api caches GET responses for 10 minutes in-process; we want every call to reach
// the tenant (and polling a 204 would otherwise return the cached 204 forever).
const opts = { hostConfig, noCache: true };
const ORIGIN = TENANT ? new URL(TENANT).origin : "";

if (!SKIP) {
  // The usual way to configure the client; used by the "default host config" test below.
  // (setDefaultHostConfig is fire-and-forget; it has completed long before that test runs.)
  auth.setDefaultHostConfig(hostConfig);
}

/**
 * Follows `links.next` with the client's own `next()` and returns every row.
 * Checks each href before handing it to the client, so a bad href fails with a clear message
 * instead of "Failed to parse URL" / ECONNREFUSED from inside the client.
 */
async function walkPages(first, { limit, label }) {
  const pages = [first];
  let resp = first;
  for (;;) {
    assert.equal(resp.status, 200, `${label}: status`);
    assert.ok(Array.isArray(resp.data?.data), `${label}: body must have a 'data' array`);
    assert.ok(resp.data.data.length <= limit, `${label}: page of ${resp.data.data.length} rows exceeds limit=${limit}`);
    const href = resp.data.links?.next?.href;
    if (!href) {
      assert.equal(resp.next, undefined, `${label}: client offers next() without links.next.href`);
      break;
    }
    assert.equal(typeof resp.next, "function", `${label}: links.next.href present but client gave no next()`);
    let url;
    assert.doesNotThrow(() => (url = new URL(href)), `${label}: links.next.href must be an absolute URL (the client fetches it as-is), got ${href}`);
    assert.equal(url.origin, ORIGIN, `${label}: links.next.href must point at the tenant the client was configured with, got ${href}`);
    assert.ok(pages.length < MAX_PAGES, `${label}: more than ${MAX_PAGES} pages; links.next never ends?`);
    resp = await resp.next();
    pages.push(resp);
  }
  return { pages, rows: pages.flatMap((p) => p.data.data) };
}

function assertUniqueIds(rows, idKey, label) {
  const ids = rows.map((r) => r[idKey]);
  for (const id of ids) assert.equal(typeof id, "string", `${label}: every row needs a string '${idKey}'`);
  const dupes = ids.filter((id, i) => ids.indexOf(id) !== i);
  assert.deepEqual(dupes, [], `${label}: duplicate ids across pages`);
  return ids;
}

/** Lists with a small limit and walks every page, then compares with one walk at the max limit. */
async function checkPaging(label, list, { maxLimit = 100, idKey = "id" } = {}) {
  const small = await walkPages(await list(SMALL), { limit: SMALL, label: `${label} limit=${SMALL}` });
  const smallIds = assertUniqueIds(small.rows, idKey, label);
  const big = await walkPages(await list(maxLimit), { limit: maxLimit, label: `${label} limit=${maxLimit}` });
  const bigIds = assertUniqueIds(big.rows, idKey, label);
  assert.deepEqual(smallIds, bigIds, `${label}: walking pages of ${SMALL} must give the same rows, in the same order, as pages of ${maxLimit}`);
  assert.ok(
    small.pages.length >= Math.ceil(bigIds.length / SMALL),
    `${label}: ${bigIds.length} rows cannot fit in ${small.pages.length} pages of ${SMALL}`,
  );
  return { rows: small.rows, pages: small.pages.length };
}

/** The app item found by the items test; the apps tests use it. */
let appItem;
let itemsListed = false;
/** Shared spaces, where the tenant admin can export (Qlik refuses exports from managed spaces
 * without a space role, and from other users' personal spaces). */
let sharedSpaceIds = new Set();
const noApp = () => (itemsListed ? "the tenant has no apps" : "needs the items test, which did not pass");

test("spaces: paging with next() is complete and has no duplicates", { skip: SKIP }, async (t) => {
  const { rows, pages } = await checkPaging("spaces", (limit) => spaces.getSpaces({ limit }, opts));
  sharedSpaceIds = new Set(rows.filter((s) => s.type === "shared").map((s) => s.id));
  t.diagnostic(`${rows.length} spaces in ${pages} pages`);
});

test("items (resourceType=app): paging with next() is complete and has no duplicates", { skip: SKIP }, async (t) => {
  const { rows, pages } = await checkPaging("items", (limit) => items.getItems({ resourceType: "app", limit }, opts));
  for (const r of rows) assert.equal(r.resourceType, "app", `item ${r.id}: resourceType filter not applied`);
  t.diagnostic(`${rows.length} app items in ${pages} pages`);
  const withId = rows.filter((r) => typeof r.resourceId === "string" && r.resourceId);
  appItem = withId.find((r) => sharedSpaceIds.has(r.spaceId)) ?? withId[0];
  itemsListed = true;
});

test("apps.getAppInfo: attributes.id matches the item's resourceId", { skip: SKIP }, async (t) => {
  if (!appItem) return t.skip(noApp());
  const resp = await apps.getAppInfo(appItem.resourceId, opts);
  assert.equal(resp.status, 200);
  assert.equal(resp.data?.attributes?.id, appItem.resourceId);
  if (resp.data.attributes.name !== undefined && appItem.name !== undefined) {
    assert.equal(resp.data.attributes.name, appItem.name, "app name differs between items and apps");
  }
});

/** Exports without data and downloads the file through the client; returns its bytes. */
async function exportAndDownload(appId) {
  const ex = await apps.exportApp(appId, { NoData: true }, opts);
  assert.equal(ex.status, 201, "export must answer 201 Created");
  const location = ex.headers.get("location");
  assert.ok(location, "export must answer with a Location header");
  const path = new URL(location, `${TENANT}/`).pathname;
  const m = path.match(/\/api\/v1\/temp-contents\/([^/]+)$/);
  assert.ok(m, `Location must name /api/v1/temp-contents/{id}, got ${location}`);
  const id = decodeURIComponent(m[1]);

  // The client does not follow Location or poll; a caller does, with noCache (see FINDINGS.md).
  const deadline = Date.now() + EXPORT_TIMEOUT_MS;
  let dl;
  for (;;) {
    dl = await tempContents.downloadTempFile(id, {}, opts);
    if (dl.status !== 204) break;
    assert.ok(Date.now() < deadline, `temp content ${id} still 204 after ${EXPORT_TIMEOUT_MS} ms`);
    await sleep(500);
  }
  assert.equal(dl.status, 200);
  assert.ok(
    dl.data instanceof Blob,
    `download must reach the client as a Blob (send Content-Type: application/octet-stream or Content-Disposition: attachment), got ${typeof dl.data}`,
  );
  assert.equal(typeof dl.data.download, "function", "client should have made a DownloadableBlob");
  const bytes = Buffer.from(await dl.data.arrayBuffer());
  const contentLength = dl.headers.get("content-length");
  if (contentLength !== null) assert.equal(bytes.length, Number(contentLength), "body length != Content-Length");
  return bytes;
}

test("apps.exportApp (NoData) + temp-contents download: non-empty and stable", { skip: SKIP }, async (t) => {
  if (!appItem) return t.skip(noApp());
  const first = await exportAndDownload(appItem.resourceId);
  assert.ok(first.length > 0, "exported app is empty");
  const second = await exportAndDownload(appItem.resourceId);
  const sha = (b) => createHash("sha256").update(b).digest("hex");
  assert.equal(sha(second), sha(first), "two exports of an unchanged app differ");
  // Not asserted: resourceSize.appFile is the stored app *with* data, a NoData export is not it.
  t.diagnostic(`export ${first.length} bytes (item resourceSize.appFile=${appItem.resourceSize?.appFile ?? "n/a"}), sha256 ${sha(first)}`);
});

const lists = [
  ["users", (limit) => users.getUsers({ limit }, opts), { maxLimit: 100 }],
  ["groups", (limit) => groups.getGroups({ limit }, opts), { maxLimit: 100 }],
  ["data-connections", (limit) => dataConnections.getDataConnections({ limit }, opts), { maxLimit: 100, idKey: "qID" }],
  ["webhooks", (limit) => webhooks.getWebhooks({ limit }, opts), { maxLimit: 100 }],
  ["reload-tasks", (limit) => reloadTasks.getReloadTasks({ limit }, opts), { maxLimit: 100 }],
  ["automations", (limit) => automations.getAutomations({ limit }, opts), { maxLimit: 200 }],
];
for (const [label, list, options] of lists) {
  test(`${label}: list + paging through the client`, { skip: SKIP }, async (t) => {
    const { rows, pages } = await checkPaging(label, list, options);
    t.diagnostic(`${rows.length} ${label} in ${pages} pages`);
  });
}

for (const [label, api, listFn, downloadFn] of [
  ["themes", themes, "getThemes", "downloadTheme"],
  ["extensions", extensions, "getExtensions", "downloadExtension"],
]) {
  test(`${label}: list, and download the first one's zip`, { skip: SKIP }, async (t) => {
    const resp = await api[listFn](opts);
    assert.equal(resp.status, 200);
    assert.ok(Array.isArray(resp.data?.data), `${label}: body must have a 'data' array`);
    const ids = assertUniqueIds(resp.data.data, "id", label);
    t.diagnostic(`${ids.length} ${label}`);
    if (ids.length === 0) return;
    const file = await api[downloadFn](ids[0], opts);
    assert.equal(file.status, 200);
    assert.ok(file.data instanceof Blob, `${label} file must reach the client as a Blob (application/zip, application/octet-stream or Content-Disposition: attachment)`);
    const bytes = Buffer.from(await file.data.arrayBuffer());
    assert.ok(bytes.length >= 22, `${label} zip too short (${bytes.length} bytes)`);
    assert.equal(bytes.subarray(0, 2).toString("latin1"), "PK", `${label} file is not a zip`);
  });
}

test("default host config (auth.setDefaultHostConfig) is used when no options are passed", { skip: SKIP }, async () => {
  const resp = await spaces.getSpaces({ limit: 1 });
  assert.equal(resp.status, 200);
  assert.ok(Array.isArray(resp.data?.data));
});

test("oauth2 client credentials: token, then spaces paging as the bot", { skip: SKIP_OAUTH }, async (t) => {
  const oauthConfig = { host: TENANT, authType: "oauth2", clientId: CLIENT_ID, clientSecret: CLIENT_SECRET };
  if (OAUTH_SCOPE) oauthConfig.scope = OAUTH_SCOPE;
  const token = await auth.getAccessToken({ hostConfig: oauthConfig });
  assert.ok(typeof token === "string" && token.length > 0, "no access_token from /oauth/token");
  const o = { hostConfig: oauthConfig, noCache: true };
  const { rows, pages } = await checkPaging("spaces (oauth2)", (limit) => spaces.getSpaces({ limit }, o));
  t.diagnostic(`bot sees ${rows.length} spaces in ${pages} pages`);
});
