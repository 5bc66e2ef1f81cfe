// Auto-start from the config tag, the window.ShapesToken global and the ready
// event, each test on a fresh module instance with its own fake page globals.
import assert from 'node:assert/strict'
import { afterEach, beforeEach, test } from 'node:test'

import { MemoryStorage, jsonResponse, makeJwt, stubFetch, tokenResponse } from './helpers.mjs'

const MODULE = new URL('../../static/js/shapes-token.js', import.meta.url)
const SIGNATURE = 'b'.repeat(64)
const PAGE_GLOBALS = ['window', 'document', 'localStorage', 'fetch']

let saved
let instance = 0

beforeEach(() => {
  saved = new Map(PAGE_GLOBALS.map((name) => [name, Object.getOwnPropertyDescriptor(globalThis, name)]))
})

afterEach(() => {
  for (const [name, descriptor] of saved) {
    if (descriptor) Object.defineProperty(globalThis, name, descriptor)
    else delete globalThis[name]
  }
})

function setGlobal (name, value) {
  Object.defineProperty(globalThis, name, { value, configurable: true, writable: true })
}

/** A page: window, document (with the config tag when given), localStorage and fetch. */
function page ({ config, storage = new MemoryStorage(), fetch = stubFetch() } = {}) {
  const document = new EventTarget()
  document.events = []
  document.addEventListener('shapes-token:ready', (event) => document.events.push(event))
  document.getElementById = (id) => (id === 'shapes-token-config' && config !== undefined
    ? { textContent: JSON.stringify(config) }
    : null)
  setGlobal('window', {})
  setGlobal('document', document)
  setGlobal('localStorage', storage)
  setGlobal('fetch', fetch)
  return { document, storage, fetch }
}

/** Evaluates the module afresh, as a new page load would. */
function load () {
  instance += 1
  return import(`${MODULE.href}?page=${instance}`)
}

function noUnhandledRejections () {
  const seen = []
  const listener = (reason) => seen.push(reason)
  process.on('unhandledRejection', listener)
  return async () => {
    await new Promise((resolve) => setImmediate(resolve))
    await new Promise((resolve) => setImmediate(resolve))
    process.off('unhandledRejection', listener)
    assert.deepEqual(seen, [])
  }
}

test('importing in Node without window does not throw and starts nothing', async () => {
  delete globalThis.window
  delete globalThis.document

  const module = await load()

  assert.equal(module.client, null)
  assert.equal(await module.ready, null)
  assert.equal(typeof module.createTokenClient, 'function')
  assert.equal(typeof module.clearAllTokens, 'function')
  assert.equal(module.storageKey('1'), 'shapes:omneo:shapestoken:1')
})

test('a logged-in customer: starts a client and stores a token on the first page view', async () => {
  const token = makeJwt({ exp: Math.floor(Date.now() / 1000) + 900 })
  const { document, storage, fetch } = page({
    config: { customerId: '123', signature: SIGNATURE, ts: null, endpoint: 'https://t.example/token', mode: 'signed' },
    fetch: stubFetch(tokenResponse(token))
  })

  const module = await load()

  assert.equal(await module.ready, token)
  assert.equal(storage.getItem('shapes:omneo:shapestoken:123'), token)
  assert.equal(fetch.calls[0].url, 'https://t.example/token')
  assert.deepEqual(JSON.parse(fetch.calls[0].init.body), { id: '123', signature: SIGNATURE })

  const global = globalThis.window.ShapesToken
  assert.ok(Object.isFrozen(global))
  assert.deepEqual(Object.keys(global).sort(), ['clearAllTokens', 'client', 'createTokenClient', 'ready', 'storageKey'])
  assert.equal(global.client, module.client)
  assert.equal(global.ready, module.ready)
  assert.equal(global.createTokenClient, module.createTokenClient)
  assert.equal(await global.client.getToken(), token)
  assert.equal(fetch.calls.length, 1)

  assert.equal(document.events.length, 1)
  assert.equal(document.events[0].detail.client, module.client)
})

test('timestamped and app-proxy configs reach the client', async () => {
  const token = makeJwt({ exp: Math.floor(Date.now() / 1000) + 900 })
  const timestamped = page({
    config: { customerId: '123', signature: SIGNATURE, ts: '1700000000', endpoint: 'https://t.example/token', mode: 'timestamped' },
    fetch: stubFetch(tokenResponse(token))
  })
  await (await load()).ready
  assert.equal(JSON.parse(timestamped.fetch.calls[0].init.body).ts, '1700000000')

  const proxy = page({
    config: { customerId: '123', signature: null, ts: null, endpoint: '/apps/shapes/customer-token', mode: 'app-proxy' },
    fetch: stubFetch(tokenResponse(token))
  })
  await (await load()).ready
  assert.equal(proxy.fetch.calls[0].url, '/apps/shapes/customer-token')
  assert.equal(proxy.fetch.calls[0].init.method, 'GET')
})

test('a guest: every token key is removed, client is null, ready is null', async () => {
  const storage = new MemoryStorage({
    'shapes:omneo:shapestoken:123': makeJwt({ exp: 9_999_999_999 }),
    'shapes:omneo:shapestoken:456': 'x',
    'cart:note': 'keep'
  })
  const { document, fetch } = page({
    config: { customerId: null, signature: null, ts: null, endpoint: 'https://t.example/token', mode: 'signed' },
    storage
  })

  const module = await load()

  assert.equal(module.client, null)
  assert.equal(await module.ready, null)
  assert.equal(globalThis.window.ShapesToken.client, null)
  assert.deepEqual([...storage.map.keys()], ['cart:note'])
  assert.equal(fetch.calls.length, 0)
  assert.equal(document.events.length, 1)
  assert.equal(document.events[0].detail.client, null)
})

test('a page without the config tag: the global is set and nothing starts', async () => {
  const { fetch } = page()

  const module = await load()

  assert.equal(module.client, null)
  assert.equal(await module.ready, null)
  assert.equal(typeof globalThis.window.ShapesToken.createTokenClient, 'function')
  assert.equal(fetch.calls.length, 0)
})

test('a failed first token is logged without secrets and is not an unhandled rejection', async (t) => {
  const errors = t.mock.method(console, 'error', () => {})
  const settled = noUnhandledRejections()
  page({
    config: { customerId: '123', signature: SIGNATURE, ts: null, endpoint: 'https://t.example/token', mode: 'signed' },
    fetch: stubFetch(jsonResponse(401, { error: 'invalid_signature', error_description: 'no match' }))
  })

  const module = await load()
  const err = await module.ready.then(() => assert.fail('ready should reject'), (reason) => reason)

  assert.equal(err.code, 'invalid_signature')
  await settled()
  assert.equal(errors.mock.callCount(), 1)
  const logged = errors.mock.calls[0].arguments.join(' ')
  assert.match(logged, /401 invalid_signature/)
  assert.doesNotMatch(logged, new RegExp(SIGNATURE))
})

test('a broken config rejects ready and is logged', async (t) => {
  const errors = t.mock.method(console, 'error', () => {})
  const settled = noUnhandledRejections()
  page({ config: { customerId: '123', signature: null, endpoint: 'https://t.example/token', mode: 'signed' } })

  const module = await load()

  await assert.rejects(module.ready, TypeError)
  assert.equal(module.client, null)
  await settled()
  assert.equal(errors.mock.callCount(), 1)
})
