// What the client refuses to trust: a token for someone else, an absurd `exp`, and a
// 401 from an API it was not told about (fresh stubs and clock for each test).
import assert from 'node:assert/strict'
import { beforeEach, describe, test } from 'node:test'

import {
  ENDPOINT,
  KEY,
  T0,
  customerClient,
  fakeClock,
  jsonResponse,
  makeJwt,
  MemoryStorage,
  rejection,
  stubFetch,
  tokenResponse
} from './helpers.mjs'

const ME = 'https://tokens.example.com/v1/me'
const API = 'https://api.acme.example/v3/profile'
const DAY = 86400

let storage
let clock

beforeEach(() => {
  storage = new MemoryStorage()
  clock = fakeClock()
})

function client (fetch, options = {}) {
  return customerClient({ storage, clock, fetch, ...options })
}

describe('the token is for this customer', () => {
  test('a stored token for another customer is dropped and replaced', async () => {
    storage.setItem(KEY, makeJwt({ sub: '456', exp: T0 + 900 }))
    const mine = makeJwt({ sub: '123', exp: T0 + 900 })
    const fetch = stubFetch(() => {
      assert.equal(storage.getItem(KEY), null, 'the other customer\'s token was not removed')
      return tokenResponse(mine)
    })

    assert.equal(await client(fetch).getToken(), mine)
    assert.equal(fetch.calls.length, 1)
    assert.equal(storage.getItem(KEY), mine)
  })

  test('a response carrying another customer\'s token is refused and nothing is stored', async () => {
    const fetch = stubFetch(tokenResponse(makeJwt({ sub: '456', exp: T0 + 900 })))

    const err = await rejection(client(fetch).getToken())

    assert.equal(err.code, 'invalid_response')
    assert.match(err.message, /not for customer 123/)
    assert.equal(storage.getItem(KEY), null)
  })

  test('a token without a string sub, or without integer iat and exp, is not a token', async () => {
    const fresh = makeJwt({ exp: T0 + 900 })
    for (const claims of [{ sub: 123 }, { iat: 'now' }, { exp: T0 + 900.5 }, { iat: null }, { sub: null }]) {
      storage.setItem(KEY, makeJwt({ exp: T0 + 900, ...claims }))
      const fetch = stubFetch(tokenResponse(fresh))
      assert.equal(await client(fetch).getToken(), fresh, JSON.stringify(claims))
      assert.equal(fetch.calls.length, 1)
      storage.clear()
    }
  })
})

describe('an absurd exp', () => {
  const absurd = {
    'a lifetime over a day': { iat: T0, exp: T0 + DAY + 1 },
    'a lifetime of ten years': { iat: T0, exp: T0 + 10 * 365 * DAY },
    'exp before iat': { iat: T0, exp: T0 - 1 },
    'issued a week from now': { iat: T0 + 7 * DAY, exp: T0 + 7 * DAY + 900 },
    'exp past 2**53': { iat: T0, exp: 2 ** 60 }
  }

  for (const [name, claims] of Object.entries(absurd)) {
    test(`stored, ${name}: never used, removed, replaced`, async () => {
      storage.setItem(KEY, makeJwt(claims))
      const fresh = makeJwt({ exp: T0 + 900 })
      const fetch = stubFetch(tokenResponse(fresh))

      assert.equal(await client(fetch).getToken(), fresh)
      assert.equal(fetch.calls.length, 1)
      assert.equal(storage.getItem(KEY), fresh)
    })

    test(`from the server, ${name}: refused, nothing stored`, async () => {
      const fetch = stubFetch(tokenResponse(makeJwt(claims)))

      const err = await rejection(client(fetch).getToken())

      assert.equal(err.code, 'invalid_response')
      assert.equal(storage.getItem(KEY), null)
    })
  }

  test('the longest real lifetime (a day) from a clock a day behind is still accepted', async () => {
    const token = makeJwt({ iat: T0 + DAY, exp: T0 + 2 * DAY })
    assert.equal(await client(stubFetch(tokenResponse(token))).getToken(), token)
  })

  test('a device clock far behind gets an error that says so', async () => {
    const fetch = stubFetch(tokenResponse(makeJwt({ iat: T0 + 3 * DAY, exp: T0 + 3 * DAY + 900 })))

    const err = await rejection(client(fetch).getToken())

    assert.equal(err.code, 'invalid_response')
    assert.match(err.message, /date and time of this device/)
  })
})

describe('apiOrigins: which 401 re-mints', () => {
  const stale = makeJwt({ exp: T0 + 900, jti: 'stale' })
  const fresh = makeJwt({ exp: T0 + 900, jti: 'fresh' })

  /** An API that refuses the stale token and accepts the fresh one; the endpoint mints. */
  function api () {
    return stubFetch((url, init) => {
      if (url === ENDPOINT) return tokenResponse(fresh)
      const bearer = new Headers(init.headers).get('Authorization')
      return jsonResponse(bearer === `Bearer ${fresh}` ? 200 : 401, {})
    })
  }

  test('by default the endpoint\'s own origin re-mints (the service\'s /v1/me)', async () => {
    storage.setItem(KEY, stale)
    const fetch = api()

    const response = await client(fetch).authorizedFetch(ME)

    assert.equal(response.status, 200)
    assert.deepEqual(fetch.calls.map((call) => call.url), [ME, ENDPOINT, ME])
  })

  test('by default a 401 from any other origin is returned and the token kept', async () => {
    storage.setItem(KEY, stale)
    const fetch = api()

    for (const url of [API, 'https://tracker.example.net/pixel', new URL(API), new Request(API)]) {
      const response = await client(fetch).authorizedFetch(url)
      assert.equal(response.status, 401)
    }
    assert.equal(fetch.calls.filter((call) => call.url === ENDPOINT).length, 0)
    assert.equal(storage.getItem(KEY), stale)
  })

  test('a configured origin re-mints for a string, a URL and a Request', async () => {
    for (const input of [API, new URL(API), new Request(API)]) {
      storage.setItem(KEY, stale)
      const fetch = api()

      const response = await client(fetch, { apiOrigins: ['https://api.acme.example/'] }).authorizedFetch(input)

      assert.equal(response.status, 200, String(input))
      assert.equal(fetch.calls.filter((call) => call.url === ENDPOINT).length, 1)
    }
  })

  test('configuring apiOrigins replaces the default: list the service too if you call it', async () => {
    storage.setItem(KEY, stale)
    const fetch = api()

    const response = await client(fetch, { apiOrigins: ['https://api.acme.example'] }).authorizedFetch(ME)

    assert.equal(response.status, 401)
    assert.equal(fetch.calls.length, 1)
  })

  test('the same host on another port or scheme is another origin', async () => {
    storage.setItem(KEY, stale)
    const fetch = api()
    const tokens = client(fetch, { apiOrigins: ['https://api.acme.example'] })

    for (const url of ['http://api.acme.example/v3/profile', 'https://api.acme.example:8443/v3/profile',
      'https://api.acme.example.evil.test/v3/profile']) {
      assert.equal((await tokens.authorizedFetch(url)).status, 401, url)
    }
    assert.equal(fetch.calls.filter((call) => call.url === ENDPOINT).length, 0)
  })

  test('an app-proxy endpoint (relative) has no default API origin', async () => {
    storage.setItem(KEY, stale)
    const fetch = api()
    const tokens = client(fetch, { mode: 'app-proxy', endpoint: '/apps/shapes/customer-token', signature: null })

    assert.equal((await tokens.authorizedFetch(ME)).status, 401)
    assert.equal(fetch.calls.length, 1)
  })

  test('entries that are not origins are refused when the client is made', () => {
    for (const apiOrigins of [['https://api.acme.example/v3'], ['api.acme.example'], ['ftp://api.acme.example'],
      ['https://api.acme.example?x=1'], ['https://user@api.acme.example'], 'https://api.acme.example']) {
      assert.throws(() => client(stubFetch(), { apiOrigins }), TypeError, JSON.stringify(apiOrigins))
    }
  })
})
