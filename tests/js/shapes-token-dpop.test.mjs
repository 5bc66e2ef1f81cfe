// DPoP (RFC 9449): the key pair kept in IndexedDB, the proofs on every token request and
// API call (each verified by jose, not by code of ours), nonces, and the bearer fallback.
// Fresh stubs, clock and IndexedDB (fake-indexeddb) for each test.
import assert from 'node:assert/strict'
import { beforeEach, describe, test } from 'node:test'

import * as jose from 'jose'

import {
  ENDPOINT,
  KEY,
  T0,
  customerClient,
  dpopOptions,
  dpopService,
  fakeClock,
  jsonResponse,
  keptKeyPairs,
  makeJwt,
  MemoryStorage,
  rejection,
  stubFetch,
  tokenResponse
} from './helpers.mjs'
import { configTag, customerConfig, makePage } from './page.mjs'

const ME = 'https://tokens.example.com/v1/me'
const ANONYMOUS = 'shapes:omneo:shapestoken:anonymous'
const OTHER = 'shapes:omneo:shapestoken:456'

let storage
let clock
let options

beforeEach(() => {
  storage = new MemoryStorage()
  clock = fakeClock()
  options = dpopOptions()
})

function client (fetch, overrides = {}) {
  return customerClient({ storage, clock, fetch, ...options, ...overrides })
}

describe('a token bound to a key the page cannot read', () => {
  test('the token request carries a proof jose verifies, and the token is bound to its key', async () => {
    const service = dpopService({ clock })
    const tokens = client(service.fetch)

    const token = await tokens.getToken()

    assert.equal(service.proofs.length, 1) // verified: typ, ES256 signature, htm, htu, iat, jti
    const [{ header, payload, jkt }] = service.proofs
    assert.equal(header.typ, 'dpop+jwt')
    assert.deepEqual({ htm: payload.htm, htu: payload.htu, iat: payload.iat }, { htm: 'POST', htu: ENDPOINT, iat: T0 })
    assert.equal(jose.decodeJwt(token).cnf.jkt, jkt)
    assert.equal(storage.getItem(KEY), token) // the raw JWT, under the same key as a bearer token
    assert.deepEqual(await tokens.dpopInfo(), { bound: true, jkt, extractable: false })
  })

  test('one key pair per storage key, kept in IndexedDB, its private half not extractable', async () => {
    const service = dpopService({ clock })
    await client(service.fetch).getToken()

    const kept = await keptKeyPairs(options.indexedDB)
    assert.deepEqual(Object.keys(kept), [KEY])
    assert.equal(kept[KEY].privateKey.extractable, false)
    assert.deepEqual(kept[KEY].privateKey.algorithm, { name: 'ECDSA', namedCurve: 'P-256' })
    await assert.rejects(crypto.subtle.exportKey('jwk', kept[KEY].privateKey))

    // The next page (a new client, the same browser): the same key, the stored token, no request.
    const next = client(service.fetch)
    const info = await next.dpopInfo()
    assert.equal(info.jkt, service.proofs[0].jkt)
    assert.equal(await next.getToken(), storage.getItem(KEY))
    assert.equal(service.fetch.calls.length, 1)
  })

  test('two clients making the key at once (two tabs) end up with one key', async () => {
    const service = dpopService({ clock })
    const [one, two] = [client(service.fetch), client(service.fetch)]

    const [a, b] = await Promise.all([one.dpopInfo(), two.dpopInfo()])

    assert.equal(a.jkt, b.jkt)
    assert.deepEqual(Object.keys(await keptKeyPairs(options.indexedDB)), [KEY])
  })

  test('a stored token bound to a key this browser no longer holds is replaced', async () => {
    storage.setItem(KEY, makeJwt({ exp: T0 + 900, cnf: { jkt: 'a-key-that-is-gone' } }))
    const service = dpopService({ clock })
    const tokens = client(service.fetch)

    const token = await tokens.getToken()

    assert.equal(service.fetch.calls.length, 1)
    assert.equal(jose.decodeJwt(token).cnf.jkt, service.proofs[0].jkt)
  })

  test('a token the service bound to another key is refused and not stored', async () => {
    const fetch = stubFetch(tokenResponse(makeJwt({ exp: T0 + 900, cnf: { jkt: 'someone-else' } })))
    const err = await rejection(client(fetch).getToken())
    assert.equal(err.code, 'invalid_response')
    assert.match(err.message, /bound to a DPoP key this page does not hold/)
    assert.equal(storage.getItem(KEY), null)
  })
})

describe('authorizedFetch with a bound token', () => {
  test('sends Authorization: DPoP and a fresh proof for this method and URL, with ath', async () => {
    const service = dpopService({ clock })
    const tokens = client(service.fetch)
    const token = await tokens.getToken()

    const first = await tokens.authorizedFetch(`${ME}?fields=sub#top`, { method: 'post', headers: { Accept: 'application/json' } })
    const second = await tokens.authorizedFetch(new Request(ME))

    assert.deepEqual([first.status, second.status], [200, 200])
    assert.deepEqual(await first.json(), { sub: '123' })
    const [, post, get] = service.proofs // the service checked ath, and the key against cnf.jkt
    assert.deepEqual([post.payload.htm, post.payload.htu], ['POST', ME]) // no query, no fragment
    assert.deepEqual([get.payload.htm, get.payload.htu], ['GET', ME])
    assert.notEqual(post.payload.jti, get.payload.jti)
    const headers = new Headers(service.fetch.calls[1].init.headers)
    assert.equal(headers.get('Authorization'), `DPoP ${token}`)
    assert.equal(headers.get('Accept'), 'application/json')
  })

  test('an unbound token (a service with DPoP off) goes as Bearer, with no proof', async () => {
    const token = makeJwt({ exp: T0 + 900 })
    const fetch = stubFetch(tokenResponse(token), jsonResponse(200, {}))
    const tokens = client(fetch)

    await tokens.authorizedFetch(ME)

    assert.ok(new Headers(fetch.calls[0].init.headers).has('DPoP')) // a proof was offered
    const headers = new Headers(fetch.calls[1].init.headers)
    assert.equal(headers.get('Authorization'), `Bearer ${token}`)
    assert.equal(headers.get('DPoP'), null)
    const info = await tokens.dpopInfo()
    assert.deepEqual([info.bound, info.extractable], [false, false]) // a key, but a bearer token
    assert.match(info.jkt, /^[A-Za-z0-9_-]{43}$/)
  })

  test('another 401 from the API: a new token, bound to the same key, and one retry', async () => {
    const service = dpopService({ clock })
    let refused = 0
    const fetch = async (url, init) => {
      if (url === ME && refused++ === 0) { // the token was revoked, say
        return jsonResponse(401, { error: 'invalid_token' }, { 'WWW-Authenticate': 'DPoP error="invalid_token"' })
      }
      return service.fetch(url, init)
    }
    const tokens = client(fetch)
    const revoked = await tokens.getToken()

    const response = await tokens.authorizedFetch(ME)

    assert.equal(response.status, 200)
    assert.deepEqual(service.fetch.calls.map((call) => call.url), [ENDPOINT, ENDPOINT, ME])
    assert.notEqual(storage.getItem(KEY), revoked)
    assert.equal(new Set(service.proofs.map((proof) => proof.jkt)).size, 1)
  })
})

describe('nonces (RFC 9449 §8, §9)', () => {
  test('the token endpoint asks for a nonce: one retry with it, and later proofs to that origin carry it', async () => {
    const service = dpopService({ clock, nonce: 'n-1' })
    const tokens = client(service.fetch)

    const token = await tokens.getToken()
    const response = await tokens.authorizedFetch(ME)

    assert.deepEqual(service.refusals, ['use_dpop_nonce'])
    assert.deepEqual(service.proofs.map((proof) => proof.payload.nonce), [undefined, 'n-1', 'n-1'])
    assert.equal(jose.decodeJwt(token).cnf.jkt, service.proofs[1].jkt)
    assert.equal(response.status, 200)
  })

  test('an API asks for a nonce with a 401: one retry with it, no new token', async () => {
    const token = await client(dpopService({ clock }).fetch).getToken() // minted without a nonce
    const service = dpopService({ clock, nonce: 'api-nonce' })
    const tokens = client(service.fetch)

    const response = await tokens.authorizedFetch(ME)

    assert.equal(response.status, 200)
    assert.deepEqual(service.fetch.calls.map((call) => call.url), [ME, ME])
    assert.deepEqual(service.proofs.map((proof) => proof.payload.nonce), [undefined, 'api-nonce'])
    assert.equal(storage.getItem(KEY), token)
  })

  test('a nonce is followed once per request: a second use_dpop_nonce is the answer', async () => {
    const tokenEndpoint = stubFetch(jsonResponse(400, { error: 'use_dpop_nonce' }, { 'DPoP-Nonce': 'again' }))
    const tokens = client(tokenEndpoint)
    assert.equal((await rejection(tokens.getToken())).code, 'use_dpop_nonce')
    assert.equal(tokenEndpoint.calls.length, 2)
    await rejection(tokens.getToken()) // not a final refusal: the next call asks again
    assert.equal(tokenEndpoint.calls.length, 4)

    await client(dpopService({ clock }).fetch).getToken()
    const api = stubFetch(jsonResponse(401, { error: 'use_dpop_nonce' }, {
      'WWW-Authenticate': 'DPoP error="use_dpop_nonce"', 'DPoP-Nonce': 'again'
    }))
    const response = await client(api, { apiOrigins: ['https://elsewhere.example'] }).authorizedFetch(ME)
    assert.equal(response.status, 401)
    assert.equal(api.calls.length, 2)
  })

  test('a 400 without the DPoP-Nonce header is not a nonce challenge', async () => {
    const fetch = stubFetch(jsonResponse(400, { error: 'use_dpop_nonce' }))
    const err = await rejection(client(fetch).getToken())
    assert.equal(err.code, 'use_dpop_nonce')
    assert.equal(fetch.calls.length, 1)
  })
})

describe('without DPoP: bearer tokens', () => {
  const missing = {
    'no crypto.subtle (http)': () => ({ crypto: {} }),
    'no IndexedDB': () => ({ indexedDB: undefined }),
    'IndexedDB that throws': () => ({ indexedDB: { open () { throw new DOMException('denied', 'SecurityError') } } }),
    'IndexedDB that fails': () => ({
      indexedDB: {
        open () {
          const request = { error: new DOMException('denied', 'UnknownError') }
          setTimeout(() => request.onerror())
          return request
        }
      }
    })
  }
  for (const [name, overrides] of Object.entries(missing)) {
    test(`${name}: no proof, a bearer token, Authorization: Bearer`, async () => {
      const service = dpopService({ clock })
      const tokens = client(service.fetch, overrides())

      const token = await tokens.getToken()
      await tokens.authorizedFetch(ME)

      assert.equal(jose.decodeJwt(token).cnf, undefined)
      assert.deepEqual(service.proofs, [])
      assert.equal(new Headers(service.fetch.calls[1].init.headers).get('Authorization'), `Bearer ${token}`)
      assert.deepEqual(await tokens.dpopInfo(), { bound: false, jkt: null, extractable: null })
    })
  }

  test('an IndexedDB that never answers (as some browsers\' open() does): bearer tokens after 5 s', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] })
    const service = dpopService({ clock })
    const tokens = client(service.fetch, { indexedDB: { open: () => ({}) } })

    const pending = tokens.getToken()
    await new Promise(setImmediate)
    assert.equal(service.fetch.calls.length, 0)
    t.mock.timers.tick(5000)

    assert.equal(jose.decodeJwt(await pending).cnf, undefined)
    assert.deepEqual(service.proofs, [])
  })

  test('a service that requires DPoP: dpop_unavailable, saying why', async () => {
    const service = dpopService({ clock, requireDpop: true })
    const tokens = client(service.fetch, { indexedDB: undefined })

    const err = await rejection(tokens.getToken())

    assert.equal(err.code, 'dpop_unavailable')
    assert.equal(err.status, 400)
    assert.match(err.message, /requires DPoP and this page has no IndexedDB/)
    assert.equal((await rejection(tokens.getToken())).code, 'dpop_unavailable') // final, as any 400
    assert.equal(service.fetch.calls.length, 1)
  })

  test('a key this page holds and a service that refuses its proof: the service\'s own error', async () => {
    const fetch = stubFetch(jsonResponse(400, { error: 'invalid_dpop_proof' }))
    assert.equal((await rejection(client(fetch).getToken())).code, 'invalid_dpop_proof')
  })

  test('dpop: false sends no proof and leaves IndexedDB alone', async () => {
    const opened = []
    const indexedDB = { open: (...args) => opened.push(args) }
    const service = dpopService({ clock })
    const tokens = client(service.fetch, { dpop: false, indexedDB })

    await tokens.getToken()
    await tokens.authorizedFetch(ME)
    assert.deepEqual(service.proofs, [])
    assert.deepEqual(await tokens.dpopInfo(), { bound: false, jkt: null, extractable: null })
    assert.deepEqual(opened, [])

    const refused = client(dpopService({ clock, requireDpop: true }).fetch, { dpop: false, storage: new MemoryStorage() })
    assert.match((await rejection(refused.getToken())).message, /DPoP is turned off here \(dpop: false\)/)
    assert.throws(() => client(service.fetch, { dpop: 'required' }), /dpop must be true or false/)
  })

  test('app-proxy mode carries no proof (App Proxy tokens are bearer tokens)', async () => {
    const fetch = stubFetch(tokenResponse(makeJwt({ exp: T0 + 900 })))
    const tokens = client(fetch, { mode: 'app-proxy', endpoint: '/apps/shapes/customer-token', signature: undefined })
    await tokens.getToken()
    assert.equal(new Headers(fetch.calls[0].init.headers).get('DPoP'), null)
  })
})

describe('the key goes with its token', () => {
  test('clear() deletes the key pair; the next token gets a new key', async () => {
    const service = dpopService({ clock })
    const tokens = client(service.fetch)
    await tokens.getToken()

    await tokens.clear()

    assert.equal(storage.getItem(KEY), null)
    assert.deepEqual(await keptKeyPairs(options.indexedDB), {})
    await tokens.getToken()
    assert.notEqual(service.proofs[1].jkt, service.proofs[0].jkt)
    assert.equal((await tokens.dpopInfo()).jkt, service.proofs[1].jkt)
  })
})

describe('pages', () => {
  const now = () => Math.floor(Date.now() / 1000)

  function page (config, { fetch, indexedDB = options.indexedDB } = {}) {
    return makePage({ storage, fetch, crypto: globalThis.crypto, indexedDB, elements: [configTag(config)] })
  }

  /** The page's client once its first token is in (its key work done). */
  async function started (p) {
    const tokens = await p.api.ready
    if (tokens) await tokens.dpopInfo()
    return tokens
  }

  test("customer B's page removes customer A's token and key pair, keeps the anonymous ones", async () => {
    const realClock = { now: Date.now }
    const pageA = page(customerConfig({ customerId: '456' }), { fetch: dpopService({ clock: realClock }).fetch })
    pageA.run()
    await (await started(pageA)).getToken()
    const anonymousToken = makeJwt({ sub: 'storefront-web', iat: now(), exp: now() + 900 })
    storage.setItem(ANONYMOUS, anonymousToken)
    const guestKey = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])
    await putKeyPair(options.indexedDB, ANONYMOUS, guestKey)
    assert.deepEqual(Object.keys(await keptKeyPairs(options.indexedDB)).sort(), [OTHER, ANONYMOUS])

    const service = dpopService({ clock: realClock })
    const pageB = page(customerConfig(), { fetch: service.fetch })
    pageB.run()
    assert.deepEqual([...storage.map.keys()], [ANONYMOUS]) // A's token: at once
    const tokens = await started(pageB)

    const token = await tokens.getToken()
    assert.deepEqual(Object.fromEntries(storage.map), { [ANONYMOUS]: anonymousToken, [KEY]: token })
    assert.deepEqual(Object.keys(await keptKeyPairs(options.indexedDB)).sort(), [KEY, ANONYMOUS])
    assert.equal(jose.decodeJwt(token).cnf.jkt, service.proofs[0].jkt)
    assert.equal(service.proofs[0].payload.htu, ENDPOINT)
  })

  test('a guest page removes every customer key pair; with a guest client its implicit request carries a proof', async () => {
    const realClock = { now: Date.now }
    const customer = page(customerConfig(), { fetch: dpopService({ clock: realClock }).fetch })
    customer.run()
    await (await started(customer)).getToken()
    assert.deepEqual(Object.keys(await keptKeyPairs(options.indexedDB)), [KEY])

    const guestConfig = customerConfig({
      customerId: null,
      signature: null,
      guestClientId: 'storefront-web',
      guestEndpoint: 'https://tokens.example.com/oauth/token'
    })
    const service = dpopService({ clock: realClock })
    const guest = page(guestConfig, { fetch: service.fetch })
    guest.run()
    const tokens = await started(guest)

    const token = await tokens.getToken()
    assert.deepEqual(Object.fromEntries(storage.map), { [ANONYMOUS]: token })
    assert.deepEqual(Object.keys(await keptKeyPairs(options.indexedDB)), [ANONYMOUS])
    assert.equal(service.proofs[0].payload.htu, 'https://tokens.example.com/oauth/token')
    assert.equal(jose.decodeJwt(token).cnf.jkt, service.proofs[0].jkt)
    assert.equal(service.fetch.calls[0].init.body, 'grant_type=implicit&client_id=storefront-web')

    // A guest page without a guest client: nothing is left, key pairs included.
    const bare = page(customerConfig({ customerId: null, signature: null }))
    bare.run()
    assert.equal(await bare.api.ready, null)
    assert.deepEqual([...storage.map.keys()], [])
    const other = bare.api.createTokenClient({ endpoint: ENDPOINT, customerId: '456', signature: 'c'.repeat(64), storage })
    await other.clear() // its key store work runs after the page's removal
    assert.deepEqual(await keptKeyPairs(options.indexedDB), {})
  })

  test('"dpop": false in the config: no proof, no key, IndexedDB untouched', async () => {
    const opened = []
    const service = dpopService({ clock: { now: Date.now } })
    const p = page(customerConfig({ dpop: false }), { fetch: service.fetch, indexedDB: { open: (...args) => opened.push(args) } })
    p.run()
    const tokens = await p.api.ready

    const token = await tokens.getToken()
    assert.equal(jose.decodeJwt(token).cnf, undefined)
    assert.deepEqual(service.proofs, [])
    assert.deepEqual(opened, [])
  })
})

/** Stores a key pair as the script does, for a page that had it before. */
function putKeyPair (factory, name, pair) {
  return new Promise((resolve, reject) => {
    const request = factory.open('shapes-token', 1)
    request.onupgradeneeded = () => request.result.createObjectStore('dpop-keys')
    request.onerror = () => reject(request.error)
    request.onsuccess = () => {
      const database = request.result
      const transaction = database.transaction('dpop-keys', 'readwrite')
      transaction.objectStore('dpop-keys').put(pair, name)
      transaction.oncomplete = () => {
        database.close()
        resolve()
      }
    }
  })
}
