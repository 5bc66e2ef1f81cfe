// Test doubles for the browser client: storage, fetch, Web Locks, a clock, and a token
// service that checks DPoP proofs with jose (a verifier written elsewhere).

import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'

import { IDBFactory } from 'fake-indexeddb'
import * as jose from 'jose'

import { createTokenClient } from '../../static/js/shapes-token.mjs'

export const T0 = 1_700_000_000 // seconds; the fake clock starts here
export const ENDPOINT = 'https://tokens.example.com/v1/shops/acme.myshopify.com/customer-token'
export const KEY = 'shapes:omneo:shapestoken:123'

/** A token client for customer 123 on test doubles: the fake clock, no Web Locks. */
export function customerClient ({ storage, clock, fetch, ...options }) {
  return createTokenClient({
    endpoint: ENDPOINT,
    customerId: '123',
    signature: 'a'.repeat(64),
    storage,
    fetch,
    locks: null,
    now: clock.now,
    sleep: clock.sleep,
    ...options
  })
}

/** The error `promise` rejects with; the test fails if it resolves. */
export function rejection (promise) {
  return promise.then(() => assert.fail('expected a rejection'), (err) => err)
}

function base64url (text) {
  return Buffer.from(text, 'utf8').toString('base64url')
}

/** An unsigned JWT-shaped string; the client only ever reads `sub`, `exp`, `iat` and `cnf`. */
export function makeJwt ({ exp, iat = T0, sub = '123', jti = 'x', cnf } = {}) {
  const header = base64url(JSON.stringify({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' }))
  const payload = base64url(JSON.stringify({ sub, iat, exp, jti, ...(cnf ? { cnf } : {}) }))
  return `${header}.${payload}.c2lnbmF0dXJl`
}

/** The Storage interface over a Map, as localStorage behaves. */
export class MemoryStorage {
  constructor (entries = {}) {
    this.map = new Map(Object.entries(entries))
  }

  get length () {
    return this.map.size
  }

  key (index) {
    return [...this.map.keys()][index] ?? null
  }

  getItem (key) {
    return this.map.has(key) ? this.map.get(key) : null
  }

  setItem (key, value) {
    this.map.set(key, String(value))
  }

  removeItem (key) {
    this.map.delete(key)
  }

  clear () {
    this.map.clear()
  }
}

/** Storage that throws on every call, as in some private modes. */
export class ThrowingStorage {
  get length () {
    throw new DOMException('denied', 'SecurityError')
  }

  key () {
    throw new DOMException('denied', 'SecurityError')
  }

  getItem () {
    throw new DOMException('denied', 'SecurityError')
  }

  setItem () {
    throw new DOMException('quota', 'QuotaExceededError')
  }

  removeItem () {
    throw new DOMException('denied', 'SecurityError')
  }
}

/** navigator.locks with exclusive locks per name, shared by every "tab" given it. */
export class FakeLockManager {
  constructor () {
    this.tails = new Map()
    this.requests = []
  }

  request (name, callback) {
    this.requests.push(name)
    const previous = this.tails.get(name) || Promise.resolve()
    const result = previous.then(() => callback({ name, mode: 'exclusive' }))
    this.tails.set(name, result.catch(() => {}))
    return result
  }
}

export function jsonResponse (status, body, headers = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', ...headers }
  })
}

export function tokenResponse (token) {
  return jsonResponse(200, {
    access_token: token,
    token_type: 'Bearer',
    expires_in: 900,
    expires: T0 + 900,
    token,
    expiry: new Date((T0 + 900) * 1000).toISOString()
  })
}

/**
 * A fetch stub answering from a list of responders (a Response, or a function of
 * (url, init) returning one); records every call. The last responder repeats.
 */
export function stubFetch (...responders) {
  const calls = []
  const fetch = async (url, init) => {
    calls.push({ url, init })
    const responder = responders[Math.min(calls.length - 1, responders.length - 1)]
    const response = typeof responder === 'function' ? await responder(url, init) : responder
    return response instanceof Response ? response.clone() : response
  }
  fetch.calls = calls
  return fetch
}

/** A clock that only moves when told to, or when the client sleeps. */
export function fakeClock (start = T0) {
  let ms = start * 1000
  const sleeps = []
  return {
    now: () => ms,
    sleep: async (wait) => {
      sleeps.push(wait)
      ms += wait
    },
    advance: (seconds) => {
      ms += seconds * 1000
    },
    sleeps
  }
}

/** A promise with its resolve function, to hold a response back. */
export function deferred () {
  let resolve
  const promise = new Promise((resolve_) => {
    resolve = resolve_
  })
  return { promise, resolve }
}

/** Sets globals (window-like ones Node lacks) for one test, restored after it. */
export function setGlobals (t, values) {
  for (const [name, value] of Object.entries(values)) {
    const saved = Object.getOwnPropertyDescriptor(globalThis, name)
    Object.defineProperty(globalThis, name, { value, configurable: true, writable: true })
    t.after(() => {
      if (saved) Object.defineProperty(globalThis, name, saved)
      else delete globalThis[name]
    })
  }
}

// -- DPoP (RFC 9449) ------------------------------------------------------------------

/** What a client needs for DPoP in Node: WebCrypto (Node's own) and a fresh IndexedDB. */
export function dpopOptions () {
  return { crypto: globalThis.crypto, indexedDB: new IDBFactory() }
}

/** The key pairs kept in `factory`, by storage key (read after the client's last call). */
export async function keptKeyPairs (factory) {
  const database = await new Promise((resolve, reject) => {
    const request = factory.open('shapes-token')
    request.onsuccess = () => resolve(request.result)
    request.onerror = () => reject(request.error)
  })
  try {
    if (!database.objectStoreNames.contains('dpop-keys')) return {}
    const store = database.transaction('dpop-keys').objectStore('dpop-keys')
    const [names, pairs] = await Promise.all([store.getAllKeys(), store.getAll()].map((request) => new Promise((resolve) => {
      request.onsuccess = () => resolve(request.result)
    })))
    return Object.fromEntries(names.map((name, i) => [name, pairs[i]]))
  } finally {
    database.close()
  }
}

/** base64url(SHA-256(token)), the `ath` of a proof sent with `token` (RFC 9449 §4.2). */
export function accessTokenHash (token) {
  return createHash('sha256').update(token, 'ascii').digest('base64url')
}

/**
 * Verifies a DPoP proof as RFC 9449 §4.3 says, with jose: the signature with the header's
 * `jwk`, `typ`, and the claims for this `htm`, `htu`, `token` (ath) and `nonce`. Returns
 * `{header, payload, jkt}`, `jkt` the RFC 7638 thumbprint jose computes for the key.
 */
export async function verifyProof (proof, { htm, htu, token, nonce, now }) {
  const header = jose.decodeProtectedHeader(proof)
  assert.equal(header.alg, 'ES256')
  assert.deepEqual(Object.keys(header.jwk).sort(), ['crv', 'kty', 'x', 'y']) // public members only
  const { payload } = await jose.jwtVerify(proof, await jose.importJWK(header.jwk, 'ES256'), {
    typ: 'dpop+jwt',
    algorithms: ['ES256'],
    currentDate: new Date(now)
  })
  assert.match(payload.jti, /^[A-Za-z0-9_-]{22,}$/) // 16 random bytes or more
  assert.equal(payload.htm, htm)
  assert.equal(payload.htu, htu)
  assert.equal(payload.iat, Math.floor(now / 1000))
  assert.equal(payload.ath, token === undefined ? undefined : accessTokenHash(token))
  assert.equal(payload.nonce, nonce)
  assert.deepEqual(Object.keys(payload).sort(),
    ['htm', 'htu', 'iat', 'jti', ...(token === undefined ? [] : ['ath']), ...(nonce === undefined ? [] : ['nonce'])].sort())
  return { header, payload, jkt: await jose.calculateJwkThumbprint(header.jwk, 'sha256') }
}

/**
 * A token service and API that check DPoP proofs, as a fetch stub: the token endpoints
 * (`ENDPOINT`, `/oauth/token`) mint a token bound to the proof's key (`token_type: DPoP`,
 * `cnf.jkt`) or, without a proof, a bearer token (or refuse, with `requireDpop`); any other
 * URL is an API answering `{sub}` to a token sent as its binding says. With `nonce`, a
 * proof without it gets `use_dpop_nonce`. `proofs` holds every verified proof; `refusals`
 * why a request was refused.
 */
export function dpopService ({ clock, nonce, requireDpop = false, lifetime = 900 }) {
  const calls = []
  const proofs = []
  const refusals = []
  const refuse = (status, error, headers = {}) => {
    refusals.push(error)
    return jsonResponse(status, { error, error_description: `refused: ${error}` }, headers)
  }
  async function check (init, expected) {
    const headers = new Headers(init.headers)
    const proof = headers.get('DPoP')
    if (proof === null) return null
    const decoded = jose.decodeJwt(proof)
    const verified = await verifyProof(proof, { ...expected, nonce: decoded.nonce, now: clock.now() })
    proofs.push(verified)
    return verified
  }
  const fetch = async (input, init = {}) => {
    calls.push({ url: input, init })
    const url = typeof input === 'string' ? input : input.url
    const target = new URL(url)
    const htu = `${target.origin}${target.pathname}`
    const method = (init.method || input.method || 'GET').toUpperCase()
    if (url === ENDPOINT || target.pathname === '/oauth/token') {
      const guest = target.pathname === '/oauth/token'
      const proof = await check(init, { htm: 'POST', htu })
      if (proof === null && requireDpop) return refuse(400, 'invalid_dpop_proof')
      if (proof !== null && nonce !== undefined && proof.payload.nonce !== nonce) {
        return refuse(400, 'use_dpop_nonce', { 'DPoP-Nonce': nonce })
      }
      const iat = Math.floor(clock.now() / 1000)
      const sub = guest ? new URLSearchParams(init.body).get('client_id') : JSON.parse(init.body).id
      const token = makeJwt({ sub, iat, exp: iat + lifetime, jti: `t${calls.length}`, cnf: proof ? { jkt: proof.jkt } : undefined })
      return jsonResponse(200, { access_token: token, token_type: proof ? 'DPoP' : 'Bearer', expires_in: lifetime, token })
    }
    const [scheme, token] = (new Headers(init.headers).get('Authorization') || ' ').split(' ')
    const claims = jose.decodeJwt(token)
    if (claims.exp <= clock.now() / 1000) return refuse(401, 'invalid_token')
    if (scheme === 'Bearer' && !claims.cnf) return jsonResponse(200, { sub: claims.sub })
    if (scheme !== 'DPoP' || !claims.cnf) return refuse(401, 'invalid_token')
    const proof = await check(init, { htm: method, htu, token })
    if (proof === null || proof.jkt !== claims.cnf.jkt) return refuse(401, 'invalid_token')
    if (nonce !== undefined && proof.payload.nonce !== nonce) {
      return refuse(401, 'use_dpop_nonce', { 'WWW-Authenticate': 'DPoP error="use_dpop_nonce", algs="ES256"', 'DPoP-Nonce': nonce })
    }
    return jsonResponse(200, { sub: claims.sub })
  }
  fetch.calls = calls
  return { fetch, proofs, refusals }
}
