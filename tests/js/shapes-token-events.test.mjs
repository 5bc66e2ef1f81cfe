// onChange (the page's `shapes-token:change`), keepFresh, and anonymous tokens of a
// public client (implicit mode), with stubbed fetch, storage, clock and timers.
import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, test } from 'node:test'

import { ANONYMOUS_KEY, clearCustomerTokens } from '../../static/js/shapes-token.mjs'
import {
  ENDPOINT,
  KEY,
  T0,
  customerClient,
  fakeClock,
  jsonResponse,
  makeJwt,
  MemoryStorage,
  setGlobals,
  stubFetch,
  tokenResponse
} from './helpers.mjs'

const OAUTH = 'https://tokens.example.com/oauth/token'

let storage
let clock
let changes

beforeEach(() => {
  storage = new MemoryStorage()
  clock = fakeClock()
  changes = []
})

function client (fetch, options = {}) {
  return customerClient({ storage, clock, fetch, onChange: (detail) => changes.push(detail), ...options })
}

describe('onChange', () => {
  test('a new token is announced with its exp; reusing it announces nothing', async () => {
    const tokens = client(stubFetch(tokenResponse(makeJwt({ exp: T0 + 900 }))))
    assert.deepEqual(changes, [])

    await tokens.getToken()
    await tokens.getToken()

    assert.deepEqual(changes, [{ customerId: '123', expiresAt: T0 + 900 }])
  })

  test('a token already stored when the client is made is the starting point, not a change', async () => {
    storage.setItem(KEY, makeJwt({ exp: T0 + 900 }))
    const tokens = client(stubFetch())

    await tokens.getToken()

    assert.deepEqual(changes, [])
  })

  test('an expired stored token replaced by a new one is a change', async () => {
    storage.setItem(KEY, makeJwt({ iat: T0 - 1000, exp: T0 - 100 }))
    await client(stubFetch(tokenResponse(makeJwt({ exp: T0 + 900 })))).getToken()

    assert.deepEqual(changes, [{ customerId: '123', expiresAt: T0 + 900 }])
  })

  test('clear() announces expiresAt null, once', async () => {
    const tokens = client(stubFetch(tokenResponse(makeJwt({ exp: T0 + 900 }))))
    await tokens.getToken()

    tokens.clear()
    tokens.clear()

    assert.deepEqual(changes.at(-1), { customerId: '123', expiresAt: null })
    assert.equal(changes.length, 2)
  })

  test('a 401 re-mint announces the new token', async () => {
    storage.setItem(KEY, makeJwt({ exp: T0 + 900, jti: 'stale' }))
    const fresh = makeJwt({ iat: T0 + 1, exp: T0 + 901, jti: 'fresh' })
    const fetch = stubFetch((url, init) => {
      if (url === ENDPOINT) return tokenResponse(fresh)
      return jsonResponse(new Headers(init.headers).get('Authorization') === `Bearer ${fresh}` ? 200 : 401, {})
    })

    await client(fetch).authorizedFetch('https://tokens.example.com/v1/me')

    assert.deepEqual(changes, [
      { customerId: '123', expiresAt: null },
      { customerId: '123', expiresAt: T0 + 901 }
    ])
  })

  test('another tab storing or removing the token is announced (storage event)', async (t) => {
    const page = new EventTarget()
    setGlobals(t, { addEventListener: page.addEventListener.bind(page) })
    client(stubFetch())
    const token = makeJwt({ exp: T0 + 900 })

    const storageEvent = (key, newValue) => Object.assign(new Event('storage'), { key, newValue })
    page.dispatchEvent(storageEvent(KEY, token))
    page.dispatchEvent(storageEvent('shapes:omneo:shapestoken:456', makeJwt({ sub: '456', exp: T0 + 900 })))
    page.dispatchEvent(storageEvent(KEY, makeJwt({ sub: '456', exp: T0 + 999 })))
    page.dispatchEvent(storageEvent(null, null)) // localStorage.clear()

    assert.deepEqual(changes, [
      { customerId: '123', expiresAt: T0 + 900 },
      { customerId: '123', expiresAt: null }
    ])
  })
})

describe('another tab', () => {
  test('a token another tab removed (a logout there) is not served from memory', async () => {
    const first = makeJwt({ exp: T0 + 900, jti: 'first' })
    const second = makeJwt({ exp: T0 + 900, jti: 'second' })
    const tokens = client(stubFetch(tokenResponse(first), tokenResponse(second)))
    assert.equal(await tokens.getToken(), first)

    storage.removeItem(KEY)

    assert.equal(await tokens.getToken(), second)
  })
})

describe('keepFresh', () => {
  test('fetches the next token when the current one turns stale, and keeps doing so', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] })
    const first = makeJwt({ exp: T0 + 900, jti: 'first' })
    const second = makeJwt({ iat: T0 + 840, exp: T0 + 1740, jti: 'second' })
    const third = makeJwt({ iat: T0 + 1680, exp: T0 + 2580, jti: 'third' })
    const fetch = stubFetch(tokenResponse(first), tokenResponse(second), tokenResponse(third))
    const tokens = client(fetch, { keepFresh: true })
    await tokens.getToken()

    const settle = () => new Promise((resolve) => setImmediate(resolve))
    clock.advance(839)
    t.mock.timers.tick(839_000)
    await settle()
    assert.equal(fetch.calls.length, 1, 'refreshed before the token was stale')

    clock.advance(1)
    t.mock.timers.tick(1000) // 60 s (skewSeconds) before exp
    await settle()
    assert.equal(fetch.calls.length, 2)
    assert.equal(storage.getItem(KEY), second)

    clock.advance(840)
    t.mock.timers.tick(840_000)
    await settle()
    assert.equal(fetch.calls.length, 3)
    assert.deepEqual(changes.map((change) => change.expiresAt), [T0 + 900, T0 + 1740, T0 + 2580])
  })

  test('waits while the page is hidden and refreshes when it is shown', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] })
    const page = Object.assign(new EventTarget(), { visibilityState: 'hidden' })
    setGlobals(t, { document: page })
    const fetch = stubFetch(tokenResponse(makeJwt({ exp: T0 + 900 })), tokenResponse(makeJwt({ iat: T0 + 900, exp: T0 + 1800 })))
    const tokens = client(fetch, { keepFresh: true })
    await tokens.getToken()

    clock.advance(3600)
    t.mock.timers.tick(3_600_000)
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(fetch.calls.length, 1, 'a hidden page fetched a token')

    page.visibilityState = 'visible'
    page.dispatchEvent(new Event('visibilitychange'))
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(fetch.calls.length, 2)
  })

  test('after a refusal that will not pass, stops; after a network error, retries a minute later', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] })
    const errors = t.mock.method(console, 'error', () => {})
    const settle = () => new Promise((resolve) => setImmediate(resolve))
    for (const [failure, retries] of [
      [jsonResponse(401, { error: 'invalid_signature' }), false],
      [() => { throw new TypeError('Failed to fetch') }, true]
    ]) {
      storage.clear()
      const fetch = stubFetch(tokenResponse(makeJwt({ exp: clock.now() / 1000 + 900, iat: clock.now() / 1000 })), failure)
      await client(fetch, { keepFresh: true }).getToken()

      clock.advance(840)
      t.mock.timers.tick(840_000)
      await settle()
      assert.equal(fetch.calls.length, 2)

      clock.advance(60)
      t.mock.timers.tick(60_000)
      await settle()
      assert.equal(fetch.calls.length, retries ? 3 : 2)
    }
    assert.ok(errors.mock.callCount() >= 2)
  })
})

describe('anonymous tokens (implicit mode)', () => {
  function guest (fetch, options = {}) {
    return client(fetch, { mode: 'implicit', endpoint: OAUTH, clientId: 'storefront-web', customerId: undefined, signature: undefined, ...options })
  }

  test('POSTs grant_type=implicit and client_id as a form, and stores under the anonymous key', async () => {
    const token = makeJwt({ sub: 'storefront-web', exp: T0 + 900 })
    const fetch = stubFetch(tokenResponse(token))

    const tokens = guest(fetch)
    assert.equal(tokens.customerId, null)
    assert.equal(await tokens.getToken(), token)

    const { url, init } = fetch.calls[0]
    assert.equal(url, OAUTH)
    assert.equal(init.method, 'POST')
    assert.equal(init.credentials, 'omit')
    assert.equal(new Headers(init.headers).get('Content-Type'), 'application/x-www-form-urlencoded')
    assert.equal(init.body, 'grant_type=implicit&client_id=storefront-web')
    assert.equal(ANONYMOUS_KEY, 'shapes:omneo:shapestoken:anonymous')
    assert.deepEqual(Object.fromEntries(storage.map), { [ANONYMOUS_KEY]: token })
    assert.deepEqual(changes, [{ customerId: null, expiresAt: T0 + 900 }])
  })

  test('a stored anonymous token is reused; one for another client is not', async () => {
    const token = makeJwt({ sub: 'storefront-web', exp: T0 + 900 })
    storage.setItem(ANONYMOUS_KEY, token)
    assert.equal(await guest(stubFetch()).getToken(), token)

    storage.setItem(ANONYMOUS_KEY, makeJwt({ sub: 'other-client', exp: T0 + 900 }))
    const fetch = stubFetch(tokenResponse(token))
    assert.equal(await guest(fetch).getToken(), token)
    assert.equal(fetch.calls.length, 1)
  })

  test('a customer token is never taken as the anonymous token', async () => {
    const fetch = stubFetch(tokenResponse(makeJwt({ sub: '123', exp: T0 + 900 })))

    const err = await guest(fetch).getToken().then(() => assert.fail('accepted'), (reason) => reason)

    assert.equal(err.code, 'invalid_response')
    assert.match(err.message, /not for client storefront-web/)
    assert.equal(storage.getItem(ANONYMOUS_KEY), null)
  })

  test('a network failure names the client\'s allowed_origins', async () => {
    const fetch = stubFetch(() => {
      throw new TypeError('Failed to fetch')
    })

    const err = await guest(fetch).getToken().then(() => assert.fail('accepted'), (reason) => reason)

    assert.equal(err.code, 'network_error')
    assert.match(err.message, /allowed_origins of \[clients\."storefront-web"\]/)
  })

  test('a clientId that is not a client_id is refused', () => {
    for (const clientId of [undefined, null, '', 'ab', 'has space', 'x'.repeat(65), 42]) {
      assert.throws(() => guest(stubFetch(), { clientId }), TypeError, String(clientId))
    }
  })

  test('clearCustomerTokens removes every customer token and keeps the anonymous one', () => {
    storage = new MemoryStorage({
      [ANONYMOUS_KEY]: 'kept',
      'shapes:omneo:shapestoken:1': 'a',
      'shapes:omneo:shapestoken:22': 'b',
      'shapes:omneo:shapestoken:junk': 'c',
      cart: 'kept'
    })

    assert.equal(clearCustomerTokens(storage), 3)
    assert.deepEqual(Object.fromEntries(storage.map), { [ANONYMOUS_KEY]: 'kept', cart: 'kept' })
  })
})

afterEach(() => {
  storage = undefined
})
