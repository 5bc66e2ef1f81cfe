// Test doubles for the browser client: storage, fetch, Web Locks and a clock.

import assert from 'node:assert/strict'

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

/** An unsigned JWT-shaped string; the client only ever reads `exp` (and `iat`). */
export function makeJwt ({ exp, iat = T0, sub = '123', jti = 'x' } = {}) {
  const header = base64url(JSON.stringify({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' }))
  const payload = base64url(JSON.stringify({ sub, iat, exp, jti }))
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
