// The page's client: shapes-token.js as a classic script on a page (tests/js/page.mjs),
// with the snippet's inline `ready` placeholder, in any load order, loaded twice, and
// with configs that must be refused.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import vm from 'node:vm'

import * as esm from '../../static/js/shapes-token.mjs'
import { KEY, jsonResponse, makeJwt, MemoryStorage, rejection, stubFetch, ThrowingStorage, tokenResponse } from './helpers.mjs'
import { PLACEHOLDER, SCRIPT, configTag, customerConfig, makePage } from './page.mjs'

const SIGNATURE = 'b'.repeat(64)
const ANONYMOUS = 'shapes:omneo:shapestoken:anonymous'
const now = () => Math.floor(Date.now() / 1000)

test('shapes-token.js is a classic script: no import or export, nothing thrown without a page', async () => {
  assert.doesNotThrow(() => new vm.Script(SCRIPT)) // a module's `export` is a SyntaxError here
  const page = makePage()
  delete page.context.document
  page.run()

  assert.equal(await page.api.ready, null)
  assert.ok(Object.isFrozen(page.api))
  assert.deepEqual(Object.keys(page.api).sort(),
    ['ANONYMOUS_KEY', 'clearAllTokens', 'clearCustomerTokens', 'createTokenClient', 'ready', 'storageKey'])
  assert.equal(page.api.storageKey('1'), 'shapes:omneo:shapestoken:1')
})

test('shapes-token.mjs re-exports what shapes-token.js defined, and copies no logic', () => {
  const source = readFileSync(new URL('../../static/js/shapes-token.mjs', import.meta.url), 'utf8')
  assert.match(source, /^import '\.\/shapes-token\.js'$/m)
  assert.doesNotMatch(source, /function|=>/)
  assert.equal(esm.default, globalThis.ShapesToken)
  for (const name of ['createTokenClient', 'clearAllTokens', 'clearCustomerTokens', 'storageKey', 'ANONYMOUS_KEY', 'ready']) {
    assert.equal(esm[name], globalThis.ShapesToken[name], name)
  }
})

test('a logged-in customer: ready resolves to the page client, whose first token is already on its way', async () => {
  const token = makeJwt({ sub: '123', iat: now(), exp: now() + 900 })
  const page = makePage({ elements: [configTag(customerConfig())], fetch: stubFetch(tokenResponse(token)) })
  page.run(PLACEHOLDER)
  const early = page.api.ready // what code between the snippet and the script holds

  page.run()

  const client = await early
  assert.equal(page.api.ready, early)
  assert.equal(page.fetch.calls.length, 1) // started at load, not when first asked
  assert.deepEqual(JSON.parse(page.fetch.calls[0].init.body), { id: '123', signature: SIGNATURE })
  assert.equal(await client.getToken(), token)
  assert.equal(page.storage.getItem(KEY), token)
  assert.equal(page.fetch.calls.length, 1)
  assert.deepEqual(page.events, [{ customerId: '123', expiresAt: now() + 900 }])
  assert.deepEqual(page.errors, [])
})

test('loaded in <head> before the snippet: the config is read once the document is parsed', async () => {
  const token = makeJwt({ sub: '123', iat: now(), exp: now() + 900 })
  const page = makePage({ readyState: 'loading', fetch: stubFetch(tokenResponse(token)) })
  page.run() // script_tag in <head>: no config in the DOM yet
  const ready = page.api.ready
  page.run(PLACEHOLDER) // the snippet, later in the page, keeps the script's promise
  assert.equal(page.api.ready, ready)
  page.document.elements = [configTag(customerConfig())]
  assert.equal(page.fetch.calls.length, 0)

  page.parsed()

  const client = await ready
  assert.equal(await client.getToken(), token)
  assert.equal(page.fetch.calls.length, 1)
})

test('a second copy of the script leaves the first in charge: one client, one request', async () => {
  const token = makeJwt({ sub: '123', iat: now(), exp: now() + 900 })
  const page = makePage({ elements: [configTag(customerConfig())], fetch: stubFetch(tokenResponse(token)) })
  page.run(PLACEHOLDER)
  page.run()
  const first = page.api

  page.run()
  page.run(PLACEHOLDER)

  assert.equal(page.api, first)
  await first.ready
  assert.equal(page.fetch.calls.length, 1)
})

test('two config tags: refused, nothing fetched or removed, ready rejects, logged once', async () => {
  const storage = new MemoryStorage({ [KEY]: 'kept' })
  const page = makePage({
    storage,
    elements: [configTag(customerConfig()), configTag(customerConfig({ customerId: '456' }))]
  })
  page.run(PLACEHOLDER)
  page.run()

  const err = await rejection(page.api.ready)
  assert.equal(err.code, 'invalid_config')
  assert.match(err.message, /2 #shapes-token-config elements/)
  assert.equal(page.fetch.calls.length, 0)
  assert.deepEqual(Object.fromEntries(storage.map), { [KEY]: 'kept' })
  assert.deepEqual(page.errors, [`ShapesToken: ${err.message}`]) // the prefix once, not twice
  assert.match(err.message, /^this page has 2/)
})

test('a config element that is not the snippet\'s JSON script tag is refused', async () => {
  for (const element of [configTag(customerConfig(), { tagName: 'DIV' }), configTag(customerConfig(), { type: 'text/plain' }),
    configTag('{"customerId": '), configTag('null')]) {
    const page = makePage({ elements: [element] })
    page.run()
    const err = await rejection(page.api.ready)
    assert.equal(err.code, 'invalid_config', JSON.stringify(element))
    assert.equal(page.fetch.calls.length, 0)
  }
})

test('no signature on a customer page (the metafield is missing) says so', async () => {
  const page = makePage({ elements: [configTag(customerConfig({ signature: null }))] })
  page.run()

  const err = await rejection(page.api.ready)
  assert.match(err.message, /metafield omneo\.id_secret/)
  assert.equal(page.fetch.calls.length, 0)
})

test('a guest without a guest client: every token is removed, ready is null, no request', async () => {
  const storage = new MemoryStorage({ [KEY]: makeJwt({ exp: 9_999_999_999 }), [ANONYMOUS]: 'x', 'cart:note': 'keep' })
  const page = makePage({ storage, elements: [configTag(customerConfig({ customerId: null, signature: null }))] })
  page.run(PLACEHOLDER)
  page.run()

  assert.equal(await page.api.ready, null)
  assert.deepEqual([...storage.map.keys()], ['cart:note'])
  assert.equal(page.fetch.calls.length, 0)
})

test('a guest with a guest client: customer tokens go, the anonymous one is fetched and served', async () => {
  const anonymous = makeJwt({ sub: 'storefront-web', iat: now(), exp: now() + 900 })
  const storage = new MemoryStorage({ [KEY]: makeJwt({ exp: now() + 900 }), 'cart:note': 'keep' })
  const page = makePage({
    storage,
    fetch: stubFetch(tokenResponse(anonymous)),
    elements: [configTag(customerConfig({
      customerId: null,
      signature: null,
      guestClientId: 'storefront-web',
      guestEndpoint: 'https://tokens.example.com/oauth/token'
    }))]
  })
  page.run(PLACEHOLDER)
  page.run()

  const client = await page.api.ready
  assert.equal(await client.getToken(), anonymous)
  assert.deepEqual(Object.fromEntries(storage.map), { 'cart:note': 'keep', [ANONYMOUS]: anonymous })
  assert.equal(page.fetch.calls[0].url, 'https://tokens.example.com/oauth/token')
  assert.equal(page.fetch.calls[0].init.body, 'grant_type=implicit&client_id=storefront-web')
  assert.deepEqual(page.events, [{ customerId: null, expiresAt: now() + 900 }])

  // The next guest page keeps the anonymous token: no new request.
  const next = makePage({ storage, fetch: page.fetch, elements: page.document.elements })
  next.run()
  assert.equal(await (await next.api.ready).getToken(), anonymous)
  assert.equal(page.fetch.calls.length, 1)
})

test('a guest client without a guest endpoint (an App Proxy page) is a config error', async () => {
  const page = makePage({
    elements: [configTag(customerConfig({ customerId: null, signature: null, mode: 'app-proxy', guestClientId: 'storefront-web' }))]
  })
  page.run()

  const err = await rejection(page.api.ready)
  assert.match(err.message, /guest_endpoint/)
})

test('timestamped, app-proxy and apiOrigins settings reach the page client', async () => {
  const token = makeJwt({ sub: '123', iat: now(), exp: now() + 900 })
  const timestamped = makePage({
    elements: [configTag(customerConfig({ mode: 'timestamped', ts: '1700000000' }))],
    fetch: stubFetch(tokenResponse(token))
  })
  timestamped.run()
  await timestamped.api.ready
  assert.equal(JSON.parse(timestamped.fetch.calls[0].init.body).ts, '1700000000')

  const proxy = makePage({
    elements: [configTag(customerConfig({ mode: 'app-proxy', signature: null, endpoint: '/apps/shapes/customer-token' }))],
    fetch: stubFetch(tokenResponse(token))
  })
  proxy.run()
  await proxy.api.ready
  assert.equal(proxy.fetch.calls[0].url, '/apps/shapes/customer-token')
  assert.equal(proxy.fetch.calls[0].init.method, 'GET')

  const stale = makeJwt({ sub: '123', iat: now(), exp: now() + 900, jti: 'stale' })
  const api = makePage({
    storage: new MemoryStorage({ [KEY]: stale }),
    elements: [configTag(customerConfig({ apiOrigins: ['https://api.acme.example'] }))],
    fetch: stubFetch((url, init) => {
      if (url.endsWith('/customer-token')) return tokenResponse(token)
      return jsonResponse(new Headers(init.headers).get('Authorization') === `Bearer ${token}` ? 200 : 401, {})
    })
  })
  api.run()
  const response = await (await api.api.ready).authorizedFetch('https://api.acme.example/v1/profile')
  assert.equal(response.status, 200)
})

test('a failed first token is logged without secrets; ready still gives the client', async () => {
  const page = makePage({
    elements: [configTag(customerConfig())],
    fetch: stubFetch(jsonResponse(401, { error: 'invalid_signature', error_description: 'no match' }))
  })
  page.run()

  const client = await page.api.ready
  const err = await rejection(client.getToken())
  assert.equal(err.code, 'invalid_signature')
  assert.equal(page.errors.length, 1)
  assert.match(page.errors[0], /^ShapesToken: Shapes token request failed: HTTP 401 invalid_signature/)
  assert.doesNotMatch(page.errors[0], new RegExp(SIGNATURE))
})

test("a customer's page removes every other customer's token and keeps its own and the anonymous one", async () => {
  const own = makeJwt({ sub: '123', iat: now(), exp: now() + 900 })
  const storage = new MemoryStorage({
    'shapes:omneo:shapestoken:456': makeJwt({ sub: '456', iat: now(), exp: now() + 900 }),
    'shapes:omneo:shapestoken:789': 'not even a token',
    [KEY]: own,
    [ANONYMOUS]: makeJwt({ sub: 'storefront-web', iat: now(), exp: now() + 900 }),
    'cart:note': 'keep'
  })
  const page = makePage({ storage, elements: [configTag(customerConfig())] })
  page.run(PLACEHOLDER)
  page.run()

  const client = await page.api.ready
  assert.deepEqual([...storage.map.keys()].sort(), ['cart:note', KEY, ANONYMOUS])
  assert.equal(await client.getToken(), own)
  assert.equal(page.fetch.calls.length, 0)
})

test("customer B's page after customer A's: A's token is gone before B's is fetched", async () => {
  const storage = new MemoryStorage()
  const tokenA = makeJwt({ sub: '456', iat: now(), exp: now() + 900 })
  const pageA = makePage({ storage, fetch: stubFetch(tokenResponse(tokenA)), elements: [configTag(customerConfig({ customerId: '456' }))] })
  pageA.run()
  await (await pageA.api.ready).getToken()
  assert.equal(storage.getItem('shapes:omneo:shapestoken:456'), tokenA)

  const tokenB = makeJwt({ sub: '123', iat: now(), exp: now() + 900 })
  const pageB = makePage({ storage, fetch: stubFetch(tokenResponse(tokenB)), elements: [configTag(customerConfig())] })
  pageB.run()
  assert.deepEqual([...storage.map.keys()], []) // at once, not after B's request
  await (await pageB.api.ready).getToken()
  assert.deepEqual(Object.fromEntries(storage.map), { [KEY]: tokenB })
})

test('storage that throws (private mode): customer and guest pages still start, from memory', async () => {
  const token = makeJwt({ sub: '123', iat: now(), exp: now() + 900 })
  const customer = makePage({ storage: new ThrowingStorage(), fetch: stubFetch(tokenResponse(token)), elements: [configTag(customerConfig())] })
  customer.run()
  assert.equal(await (await customer.api.ready).getToken(), token)

  const guest = makePage({ storage: new ThrowingStorage(), elements: [configTag(customerConfig({ customerId: null, signature: null }))] })
  guest.run()
  assert.equal(await guest.api.ready, null)
  assert.deepEqual(customer.errors.concat(guest.errors), [])
})
