// The README's agent, resident and secretary flows, walked through the
// typed client against a running demo (`scripts/client-walk.sh` starts
// one): what the app and mini-program teams will do, checked end to end.
//
// REDPOINT_URL: where the API answers. REDPOINT_VIA_PRISM=1: the URL is
// Prism's validating proxy, and any request or answer that breaks the
// OpenAPI document (Prism's sl-violations header) fails the walk.
import assert from "node:assert/strict";
import { randomInt, randomUUID } from "node:crypto";
import { after, describe, test } from "node:test";

import {
  createRedpointClient,
  fieldViolations,
  idOf,
  messageOf,
  reasonOf,
  type Errand,
  type RedpointClient,
} from "../src/index.js";

const baseUrl = process.env.REDPOINT_URL ?? "http://localhost:8080";
const viaPrism = process.env.REDPOINT_VIA_PRISM === "1";
const password = "redpoint-demo";
const agentPhone = "13800000005"; // 古韩镇
const secretaryPhone = "13800000003"; // 古韩镇
const guhan = "140423100000";
const danzhu = "140428100000";

// Every answer's Prism verdict, and every request the walk sent. A
// request the walk breaks the contract with on purpose (no token, a method
// the path lacks) is sent through deliberately().
const violations: string[] = [];
let requests = 0;
let onPurpose = false;

async function deliberately<T>(call: () => Promise<T>): Promise<T> {
  onPurpose = true;
  try {
    return await call();
  } finally {
    onPurpose = false;
  }
}

// noPatchFetch is fetch as the mini-program has it: no PATCH.
async function noPatchFetch(request: Request): Promise<Response> {
  assert.notEqual(request.method, "PATCH", "this client has no PATCH");
  return recordingFetch(request);
}

async function recordingFetch(request: Request): Promise<Response> {
  requests++;
  const response = await fetch(request);
  const v = response.headers.get("sl-violations");
  if (v && !onPurpose) violations.push(`${request.method} ${new URL(request.url).pathname}: ${v}`);
  return response;
}

function client(token?: () => string | undefined): RedpointClient {
  return createRedpointClient({ baseUrl, token, fetch: recordingFetch });
}

async function login(phone: string): Promise<{ access: string; refresh: string }> {
  const { data, error } = await client().POST("/v1/auth:login", { body: { phone, password } });
  assert.ok(data, `login ${phone}: ${JSON.stringify(error)}`);
  return { access: data.accessToken!, refresh: data.refreshToken! };
}

// A resident phone of this run's own, so its errands are only this walk's.
const residentPhone = `139${String(randomInt(10_000_000, 99_999_999))}`;

after(() => {
  console.log(`walk: ${requests} requests${viaPrism ? `, ${violations.length} Prism violations` : ""}`);
  if (viaPrism) assert.deepEqual(violations, [], "Prism found answers or requests that break the OpenAPI document");
});

describe("agent, resident and secretary", () => {
  let agent: { access: string; refresh: string };
  let api: RedpointClient;
  let errand: Errand;
  let errandId: string;
  let residentToken: string;
  let followUpId: string;

  test("agent logs in; a refresh token is good once, and a spent one revokes its family", async () => {
    const first = await login(agentPhone);
    const rotated = await client().POST("/v1/auth:refresh", { body: { refreshToken: first.refresh } });
    assert.ok(rotated.data?.refreshToken, JSON.stringify(rotated.error));
    const spent = await client().POST("/v1/auth:refresh", { body: { refreshToken: first.refresh } });
    assert.equal(spent.response.status, 401, "a rotated refresh token is spent");
    assert.equal(reasonOf(spent.error), "UNAUTHENTICATED");
    const revoked = await client().POST("/v1/auth:refresh", { body: { refreshToken: rotated.data.refreshToken } });
    assert.equal(revoked.response.status, 401, "presenting a spent token revokes the family");

    agent = await login(agentPhone);
    api = client(() => agent.access);
  });

  test("agent logs an errand; a retry with the same requestId returns it", async () => {
    const requestId = randomUUID();
    const body = {
      errandType: "errandTypes/SI-PENSION-CERT",
      residentName: "申秀英",
      residentPhone,
      materials: ["居民身份证"],
      channel: "ERRAND_CHANNEL_HOME_VISIT" as const,
    };
    const created = await api.POST("/v1/errands", { params: { query: { requestId } }, body });
    assert.ok(created.data, JSON.stringify(created.error));
    assert.equal(created.data.state, "ERRAND_STATE_ACCEPTED");
    assert.match(created.data.residentPhone ?? "", /^139\*{4}\d{4}$/);
    const retried = await api.POST("/v1/errands", { params: { query: { requestId } }, body });
    assert.equal(retried.data?.name, created.data.name);
    errand = created.data;
    errandId = idOf(errand.name);
  });

  test("the app offers its county's catalog (动态准入): a county-only type is logged, and its errands can't be elsewhere", async () => {
    const me = await api.GET("/v1/users/{user}", { params: { path: { user: "me" } } });
    assert.ok(me.data?.servicePoint, JSON.stringify(me.error));
    const point = await client().GET("/v1/servicePoints/{servicePoint}", { params: { path: { servicePoint: idOf(me.data.servicePoint) } } });
    assert.ok(point.data?.region, JSON.stringify(point.error));
    const catalog = await client().GET("/v1/errandTypes", { params: { query: { region: point.data.region, pageSize: 500 } } });
    assert.ok(catalog.data, JSON.stringify(catalog.error));
    const countyOnly = (catalog.data.errandTypes ?? []).filter((t) => t.availability === "ERRAND_TYPE_AVAILABILITY_ADMITTED_COUNTIES");
    assert.deepEqual(countyOnly.map((t) => t.code), ["XY-MILLET-SUBSIDY"], "襄垣县's points offer its admitted type");
    const [subsidy] = countyOnly;
    assert.ok(subsidy?.name);
    const logged = await api.POST("/v1/errands", {
      body: { errandType: subsidy.name, residentName: "王秀兰", residentPhone: "13912340002", materials: subsidy.requiredMaterials },
    });
    assert.ok(logged.data, JSON.stringify(logged.error));
    const elsewhere = await client().GET("/v1/errandTypes", { params: { query: { region: "regions/140428100000", pageSize: 500 } } });
    assert.ok(!(elsewhere.data?.errandTypes ?? []).some((t) => t.code === "XY-MILLET-SUBSIDY"), "长子县's 丹朱镇 does not offer it");
  });

  test("a bad errand is INVALID_ARGUMENT naming the field, in Chinese", async () => {
    const { error, response } = await api.POST("/v1/errands", {
      body: { errandType: "errandTypes/SI-PENSION-CERT", residentName: "申秀英", residentPhone: "12345" },
    });
    assert.equal(response.status, 400);
    assert.equal(reasonOf(error), "INVALID_ARGUMENT");
    assert.ok(fieldViolations(error).some((v) => v.field.endsWith("resident_phone")), JSON.stringify(error));
    assert.match(messageOf(error) ?? "", /\p{Script=Han}/u);
  });

  test("the errand's detail has an ETag; If-None-Match is a 304", async () => {
    const first = await api.GET("/v1/errands/{errand}", { params: { path: { errand: errandId } } });
    const etag = first.response.headers.get("ETag");
    assert.ok(first.data && etag);
    const again = await api.GET("/v1/errands/{errand}", {
      params: { path: { errand: errandId }, header: { "If-None-Match": etag } },
    });
    assert.equal(again.response.status, 304);
    assert.equal(again.data, undefined);
  });

  test("edit without PATCH: X-HTTP-Method-Override, a camelCase mask", async () => {
    const miniProgram = createRedpointClient({ baseUrl, token: () => agent.access, withoutPatch: true, fetch: noPatchFetch });
    const { data, error } = await miniProgram.PATCH("/v1/errands/{errand}", {
      params: { path: { errand: errandId }, query: { updateMask: "residentName,description" } },
      body: { residentName: "申秀兰", description: "老人行动不便，上门办理" },
    });
    assert.ok(data, JSON.stringify(error));
    assert.equal(data.residentName, "申秀兰");
    assert.equal(data.description, "老人行动不便，上门办理");
    errand = data;
  });

  test("a fetched errand sent back whole: output-only fields are ignored", async () => {
    const fetched = await api.GET("/v1/errands/{errand}", { params: { path: { errand: errandId } } });
    assert.ok(fetched.data);
    const { data, error } = await api.PATCH("/v1/errands/{errand}", {
      params: { path: { errand: errandId } },
      body: { ...fetched.data, materials: ["居民身份证", "户口簿"] },
    });
    assert.ok(data, JSON.stringify(error));
    assert.deepEqual(data.materials, ["居民身份证", "户口簿"]);
    errand = data;
  });

  test("a stale etag is 409 ETAG_MISMATCH; the current one moves the errand", async () => {
    const stale = await api.POST("/v1/errands/{errand}:start", { params: { path: { errand: errandId } }, body: { etag: '"1"' } });
    assert.equal(stale.response.status, 409);
    assert.equal(reasonOf(stale.error), "ETAG_MISMATCH");
    const started = await api.POST("/v1/errands/{errand}:start", { params: { path: { errand: errandId } }, body: { etag: errand.etag } });
    assert.equal(started.data?.state, "ERRAND_STATE_IN_PROGRESS", JSON.stringify(started.error));
    const forwarded = await api.POST("/v1/errands/{errand}:forward", { params: { path: { errand: errandId } }, body: { office: "襄垣县人社局" } });
    assert.equal(forwarded.data?.state, "ERRAND_STATE_FORWARDED", JSON.stringify(forwarded.error));
    const requestId = randomUUID();
    const completed = await api.POST("/v1/errands/{errand}:complete", {
      params: { path: { errand: errandId } },
      body: { result: "认证通过", requestId },
    });
    assert.equal(completed.data?.state, "ERRAND_STATE_COMPLETED", JSON.stringify(completed.error));
    const retried = await api.POST("/v1/errands/{errand}:complete", {
      params: { path: { errand: errandId } },
      body: { result: "认证通过", requestId },
    });
    assert.equal(retried.data?.etag, completed.data?.etag, "a retry returns the first answer");
    errand = completed.data!;
  });

  test("history, lists with ETags, delta sync", async () => {
    const events = await api.GET("/v1/errands/{errand}/events", { params: { path: { errand: errandId } } });
    assert.ok((events.data?.events?.length ?? 0) >= 4, JSON.stringify(events.data));

    const query = { filter: `resident_phone = "${residentPhone}"`, orderBy: "update_time desc" as const, pageSize: 10 };
    const list = await api.GET("/v1/errands", { params: { query } });
    assert.deepEqual(list.data?.errands?.map((e) => e.name), [errand.name]);
    const etag = list.response.headers.get("ETag");
    assert.ok(etag);
    const again = await api.GET("/v1/errands", { params: { query, header: { "If-None-Match": etag } } });
    assert.equal(again.response.status, 304);

    const sync = await api.GET("/v1/errands:sync", { params: { query: { pageSize: 100 } } });
    assert.ok(sync.data?.nextSyncToken, JSON.stringify(sync.error));
  });

  test("resident: WeChat login, bind the phone, see, rate, look up", async () => {
    const login = await client().POST("/v1/residents:wechatLogin", { body: { code: `demo-walk-${randomUUID()}` } });
    assert.ok(login.data?.accessToken, JSON.stringify(login.error));
    const token = login.data.accessToken;
    residentToken = token;
    const resident = client(() => token);
    const bound = await resident.POST("/v1/residents/me:bindPhone", { body: { phoneCode: `phone-${residentPhone}` } });
    assert.ok(bound.data, JSON.stringify(bound.error));

    const mine = await resident.GET("/v1/residents/me/errands", {});
    const listed = mine.data?.errands ?? [];
    assert.equal(listed.length, 1, JSON.stringify(mine.data));
    assert.equal(listed[0]?.canRate, true);
    const etag = mine.response.headers.get("ETag");
    const again = await resident.GET("/v1/residents/me/errands", { params: { header: { "If-None-Match": etag ?? "" } } });
    assert.equal(again.response.status, 304);

    const id = idOf(listed[0]?.name);
    const detail = await resident.GET("/v1/residents/me/errands/{errand}", { params: { path: { errand: id } } });
    assert.ok(detail.data, JSON.stringify(detail.error));

    const rated = await resident.POST("/v1/residents/me/errands/{errand}:rate", {
      params: { path: { errand: id } },
      body: { level: "RATING_LEVEL_DISSATISFIED", comment: "跑了两趟" },
    });
    assert.ok(rated.data, JSON.stringify(rated.error));
    const twice = await resident.POST("/v1/residents/me/errands/{errand}:rate", {
      params: { path: { errand: id } },
      body: { level: "RATING_LEVEL_SATISFIED" },
    });
    assert.ok(twice.response.status >= 400 && reasonOf(twice.error), "an errand is rated once");

    const lookup = await client().POST("/v1/errands:lookup", {
      body: { trackingCode: errand.trackingCode!, phoneLast4: residentPhone.slice(-4) },
    });
    assert.ok(lookup.data, JSON.stringify(lookup.error));
    const miss = await client().POST("/v1/errands:lookup", { body: { trackingCode: errand.trackingCode!, phoneLast4: "0000" } });
    assert.equal(miss.response.status, 404);
    assert.equal(reasonOf(miss.error), "NOT_FOUND");
  });

  test("consent: the agent's one-time code, the resident previews and grants it once", async () => {
    const phone = `139${String(randomInt(10_000_000, 99_999_999))}`;
    const created = await api.POST("/v1/errands", {
      params: { query: { requestId: randomUUID() } },
      body: { errandType: "errandTypes/SI-PENSION-CERT", residentName: "申秀英", residentPhone: phone, materials: ["居民身份证"] },
    });
    assert.ok(created.data, JSON.stringify(created.error));
    const id = idOf(created.data.name);
    const code = await api.POST("/v1/errands/{errand}:createConsentCode", { params: { path: { errand: id } }, body: {} });
    const qr = code.data?.qrPayload ?? "";
    assert.ok(qr.startsWith("redpoint:consent:"), JSON.stringify(code.error));

    const login = await client().POST("/v1/residents:wechatLogin", { body: { code: `demo-consent-${randomUUID()}` } });
    assert.ok(login.data?.accessToken, JSON.stringify(login.error));
    const token = login.data.accessToken;
    const resident = client(() => token);
    const early = await resident.POST("/v1/consents:grant", { body: { code: qr } });
    assert.equal(reasonOf(early.error), "PHONE_NOT_BOUND", "bind before granting");
    const bound = await resident.POST("/v1/residents/me:bindPhone", { body: { phoneCode: `phone-${phone}` } });
    assert.ok(bound.data, JSON.stringify(bound.error));

    const preview = await resident.POST("/v1/consents:preview", { body: { code: qr } });
    assert.ok(preview.data, JSON.stringify(preview.error));
    assert.equal(preview.data.errandTypeDisplayName, "养老保险资格认证");
    assert.equal(preview.data.yours, true);
    const granted = await resident.POST("/v1/consents:grant", { body: { code: qr, requestId: randomUUID() } });
    assert.ok(granted.data, JSON.stringify(granted.error));
    assert.equal(granted.data.consent?.method, "CONSENT_METHOD_WECHAT");
    const again = await resident.POST("/v1/consents:grant", { body: { code: qr } });
    assert.equal(reasonOf(again.error), "CONSENT_CODE_USED", "a code works once");

    const seen = await api.GET("/v1/errands/{errand}", { params: { path: { errand: id } } });
    assert.equal(seen.data?.consent?.method, "CONSENT_METHOD_WECHAT", JSON.stringify(seen.error));
  });

  test("secretary: workload, the bad rating's follow-up, the Excel report, the board", async () => {
    const secretary = await login(secretaryPhone);
    const sec = client(() => secretary.access);

    const workload = await sec.GET("/v1/regions/{region}/workload", { params: { path: { region: guhan }, query: { groupBy: "AGENT" } } });
    assert.ok(workload.data?.total, JSON.stringify(workload.error));

    const followUps = await sec.GET("/v1/regions/{region}/followUps", { params: { path: { region: guhan }, query: { openOnly: true, pageSize: 100 } } });
    const ours = followUps.data?.followUps?.find((f) => f.errand === errand.name);
    assert.ok(ours?.name, `the bad rating opened a follow-up: ${JSON.stringify(followUps.data)}`);
    followUpId = idOf(ours.name);
    const closed = await sec.POST("/v1/followUps/{followUp}:close", {
      params: { path: { followUp: idOf(ours.name) } },
      body: { note: "已电话回访，解释了办理流程", outcome: "EXPLAINED" },
    });
    assert.ok(closed.data, JSON.stringify(closed.error));

    const excel = await sec.GET("/v1/regions/{region}/workload:export", {
      params: { path: { region: guhan } },
      parseAs: "arrayBuffer",
    });
    assert.equal(excel.response.status, 200, JSON.stringify(excel.error));
    assert.match(excel.response.headers.get("Content-Type") ?? "", /spreadsheetml/);
    assert.match(excel.response.headers.get("Content-Disposition") ?? "", /filename\*=UTF-8''/);
    const bytes = new Uint8Array(excel.data!);
    assert.deepEqual([...bytes.slice(0, 2)], [0x50, 0x4b], "an .xlsx is a zip");

    const board = await sec.GET("/v1/regions/{region}/leaderboard", { params: { path: { region: guhan }, query: { pageSize: 3 } } });
    assert.ok(board.data?.entries?.length, JSON.stringify(board.error));

    const elsewhere = await sec.GET("/v1/regions/{region}/workload", { params: { path: { region: danzhu } } });
    assert.equal(elsewhere.response.status, 403);
    assert.equal(reasonOf(elsewhere.error), "PERMISSION_DENIED");
  });

  test("disputes: the secretary reopens from the follow-up, the agent completes again, the resident reopens", async () => {
    const secretary = await login(secretaryPhone);
    const sec = client(() => secretary.access);
    const noFollowUp = await sec.POST("/v1/errands/{errand}:reopen", {
      params: { path: { errand: errandId } },
      body: { reason: "证明未实际开具", followUp: "" },
    });
    assert.equal(noFollowUp.response.status, 400);
    assert.ok(fieldViolations(noFollowUp.error).some((v) => v.field === "follow_up"), JSON.stringify(noFollowUp.error));
    const reopened = await sec.POST("/v1/errands/{errand}:reopen", {
      params: { path: { errand: errandId } },
      body: { reason: "回访核实：证明未实际开具", followUp: `followUps/${followUpId}`, requestId: randomUUID() },
    });
    assert.ok(reopened.data, JSON.stringify(reopened.error));
    assert.equal(reopened.data.state, "ERRAND_STATE_IN_PROGRESS");
    assert.equal(reopened.data.reopenCount, 1);
    assert.ok(reopened.data.lastReopenTime && !reopened.data.closeTime);

    const done = await api.POST("/v1/errands/{errand}:complete", { params: { path: { errand: errandId } }, body: { result: "已重新开具证明" } });
    assert.equal(done.data?.state, "ERRAND_STATE_COMPLETED", JSON.stringify(done.error));

    const resident = client(() => residentToken);
    const mine = await resident.POST("/v1/residents/me/errands/{errand}:reopen", {
      params: { path: { errand: errandId } },
      body: { reason: "证明上的名字写错了", requestId: randomUUID() },
    });
    assert.ok(mine.data, JSON.stringify(mine.error));
    assert.equal(mine.data.state, "ERRAND_STATE_IN_PROGRESS");
    const twice = await resident.POST("/v1/residents/me/errands/{errand}:reopen", {
      params: { path: { errand: errandId } },
      body: { reason: "还是不对" },
    });
    assert.equal(twice.response.status, 400);
    assert.equal(reasonOf(twice.error), "INVALID_STATE_TRANSITION");
  });

  test("HTTP edges: 405 with Allow, a Bearer challenge", async () => {
    const wrong = await deliberately(() => recordingFetch(new Request(`${baseUrl}/v1/errands`, { method: "DELETE" })));
    const anonymous = await deliberately(() => client().GET("/v1/errands", {}));
    // Prism refuses both itself, as the document says: no route, no token.
    if (viaPrism) return;
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get("Allow"), "GET, POST");
    assert.equal(anonymous.response.status, 401);
    assert.equal(anonymous.response.headers.get("WWW-Authenticate"), 'Bearer realm="redpoint"');
  });
});
