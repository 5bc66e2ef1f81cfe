// Behaviour of createTokenClient and clearAllTokens, with stubbed fetch, storage,
// Web Locks and clock (fresh for each test).
import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, test } from 'node:test'

import { clearAllTokens, createTokenClient, storageKey } from '../../static/js/shapes-token.mjs'
import {
  ENDPOINT,
  KEY,
  T0,
  customerClient,
  deferred,
  fakeClock,
  FakeLockManager,
  jsonResponse,
  makeJwt,
  MemoryStorage,
  rejection,
  stubFetch,
  ThrowingStorage,
  tokenResponse
} from './helpers.mjs'

const SIGNATURE = 'a'.repeat(64)

let storage
let clock

beforeEach(() => {
  storage = new MemoryStorage()
  clock = fakeClock()
})

afterEach(() => {
  storage = undefined
  clock = undefined
})

function client (fetch, options = {}) {
  return customerClient({ storage, clock, fetch, ...options })
}

describe('stored token', () => {
  test('a fresh stored token is reused with no request', async () => {
    const token = makeJwt({ exp: T0 + 900 })
    storage.setItem(KEY, token)
    const fetch = stubFetch(tokenResponse(makeJwt({ exp: T0 + 1800 })))

    assert.equal(await client(fetch).getToken(), token)
    assert.equal(fetch.calls.length, 0)
  })

  test('an expired stored token is replaced', async () => {
    storage.setItem(KEY, makeJwt({ exp: T0 - 1, iat: T0 - 901 }))
    const fresh = makeJwt({ exp: T0 + 900 })
    const fetch = stubFetch(tokenResponse(fresh))

    assert.equal(await client(fetch).getToken(), fresh)
    assert.equal(fetch.calls.length, 1)
    assert.equal(storage.getItem(KEY), fresh)
  })

  test('a token within skewSeconds of exp counts as expired', async () => {
    storage.setItem(KEY, makeJwt({ iat: T0 - 870, exp: T0 + 30 }))
    const fresh = makeJwt({ exp: T0 + 900 })
    const fetch = stubFetch(tokenResponse(fresh))

    assert.equal(await client(fetch).getToken(), fresh) // default skew: 60 s
    assert.equal(fetch.calls.length, 1)
  })

  test('skewSeconds is honoured', async () => {
    const token = makeJwt({ iat: T0 - 870, exp: T0 + 30 })
    storage.setItem(KEY, token)
    const fetch = stubFetch(tokenResponse(makeJwt({ exp: T0 + 900 })))
    const tokens = client(fetch, { skewSeconds: 10 })

    assert.equal(await tokens.getToken(), token)
    clock.advance(21) // now 9 s before exp
    assert.notEqual(await tokens.getToken(), token)
    assert.equal(fetch.calls.length, 1)
  })

  test('a short-lived token is still reused: the skew is at most half its lifetime', async () => {
    const token = makeJwt({ iat: T0, exp: T0 + 60 })
    const fetch = stubFetch(tokenResponse(token), tokenResponse(makeJwt({ exp: T0 + 120 })))
    const tokens = client(fetch)

    assert.equal(await tokens.getToken(), token)
    clock.advance(29)
    assert.equal(await tokens.getToken(), token)
    assert.equal(fetch.calls.length, 1)
  })

  test('the storage key is exactly shapes:omneo:shapestoken:<customer id>', async () => {
    const fetch = stubFetch(tokenResponse(makeJwt({ exp: T0 + 900, sub: '8012345678901' })))
    await client(fetch, { customerId: '8012345678901' }).getToken()

    assert.deepEqual([...storage.map.keys()], ['shapes:omneo:shapestoken:8012345678901'])
    assert.equal(storageKey('8012345678901'), 'shapes:omneo:shapestoken:8012345678901')
    assert.equal(storageKey(42), 'shapes:omneo:shapestoken:42')
  })

  test('the stored value is the raw JWT string', async () => {
    const token = makeJwt({ exp: T0 + 900 })
    await client(stubFetch(tokenResponse(token))).getToken()

    assert.equal(storage.getItem(KEY), token)
  })

  test('a stored value that is not a JWT is ignored and removed', async () => {
    const fresh = makeJwt({ exp: T0 + 900 })
    for (const junk of ['not a token', '{"access_token":"x"}', 'a.b.c', 'a.e30.c']) {
      storage.setItem(KEY, junk)
      const fetch = stubFetch(() => {
        assert.equal(storage.getItem(KEY), null, `${junk} was not removed`)
        return tokenResponse(fresh)
      })
      assert.equal(await client(fetch).getToken(), fresh)
      assert.equal(fetch.calls.length, 1)
      storage.clear()
    }
  })

  test('clear() removes the stored token', async () => {
    const fetch = stubFetch(tokenResponse(makeJwt({ exp: T0 + 900 })))
    const tokens = client(fetch)
    await tokens.getToken()
    storage.setItem('shapes:omneo:shapestoken:456', makeJwt({ exp: T0 + 900 }))

    tokens.clear()

    assert.equal(storage.getItem(KEY), null)
    assert.notEqual(storage.getItem('shapes:omneo:shapestoken:456'), null)
    await tokens.getToken()
    assert.equal(fetch.calls.length, 2)
  })
})

describe('guest', () => {
  test('clearAllTokens removes every shapes token key and nothing else', () => {
    const other = {
      theme: 'dark',
      'shapes:omneo:other': 'keep',
      'xshapes:omneo:shapestoken:1': 'keep',
      'shapes:omneo:shapestoken': 'keep'
    }
    storage = new MemoryStorage({
      ...other,
      'shapes:omneo:shapestoken:1': 'a',
      'shapes:omneo:shapestoken:22': 'b',
      'shapes:omneo:shapestoken:333': 'c'
    })

    assert.equal(clearAllTokens(storage), 3)
    assert.deepEqual(Object.fromEntries(storage.map), other)
  })
})

describe('one request at a time', () => {
  test('parallel getToken calls in one tab share one request', async () => {
    const token = makeJwt({ exp: T0 + 900 })
    const hold = deferred()
    const fetch = stubFetch(async () => {
      await hold.promise
      return tokenResponse(token)
    })
    const tokens = client(fetch)

    const pending = Array.from({ length: 5 }, () => tokens.getToken())
    hold.resolve()

    assert.deepEqual(await Promise.all(pending), Array(5).fill(token))
    assert.equal(fetch.calls.length, 1)
  })

  test('a failure that may pass is not kept: the next call tries again', async () => {
    const token = makeJwt({ exp: T0 + 900 })
    const fetch = stubFetch(jsonResponse(500, { error: 'server_error' }), tokenResponse(token))
    const tokens = client(fetch)

    const failures = await Promise.all([rejection(tokens.getToken()), rejection(tokens.getToken())])
    assert.deepEqual(failures.map((err) => err.code), ['server_error', 'server_error'])
    assert.equal(await tokens.getToken(), token)
    assert.equal(fetch.calls.length, 2)
  })

  for (const [status, error] of [[400, 'invalid_request'], [401, 'invalid_signature'], [401, 'signature_expired'],
    [403, 'origin_not_allowed'], [404, 'unknown_shop']]) {
    test(`a ${status} ${error} is final for this client: no second request`, async () => {
      const fetch = stubFetch(jsonResponse(status, { error }), tokenResponse(makeJwt({ exp: T0 + 900 })))
      const tokens = client(fetch)

      for (let i = 0; i < 3; i++) assert.equal((await rejection(tokens.getToken())).code, error)
      assert.equal(fetch.calls.length, 1)

      // A token another tab stored (after a reload there) is still served.
      const stored = makeJwt({ exp: T0 + 900, jti: 'other-tab' })
      storage.setItem(KEY, stored)
      assert.equal(await tokens.getToken(), stored)
    })
  }

  test('429 after every retry is not final: the next call asks again', async () => {
    const busy = jsonResponse(429, { error: 'rate_limited' }, { 'Retry-After': '1' })
    const token = makeJwt({ exp: T0 + 900 })
    const fetch = stubFetch(busy, busy, tokenResponse(token))
    const tokens = client(fetch, { maxRetries: 1 })

    assert.equal((await rejection(tokens.getToken())).code, 'rate_limited')
    assert.equal(await tokens.getToken(), token)
    assert.equal(fetch.calls.length, 3)
  })

  test('two tabs sharing storage and Web Locks make one request', async () => {
    const token = makeJwt({ exp: T0 + 900 })
    const locks = new FakeLockManager()
    const hold = deferred()
    const fetch = stubFetch(async () => {
      await hold.promise
      return tokenResponse(token)
    })
    // Each tab has its own client (its own in-flight promise); they share storage and locks.
    const tabA = client(fetch, { locks })
    const tabB = client(fetch, { locks })

    const pending = [tabA.getToken(), tabB.getToken()]
    hold.resolve()

    assert.deepEqual(await Promise.all(pending), [token, token])
    assert.equal(fetch.calls.length, 1) // tab B re-read storage after the lock
    assert.deepEqual(locks.requests, [KEY, KEY])
  })

  test('storage is read again after the lock is acquired', async () => {
    const token = makeJwt({ exp: T0 + 900 })
    const fetch = stubFetch(tokenResponse(makeJwt({ exp: T0 + 1800 })))
    // Another tab stores a token while this one waits for the lock.
    const locks = {
      request: async (name, callback) => {
        storage.setItem(name, token)
        return callback()
      }
    }

    assert.equal(await client(fetch, { locks }).getToken(), token)
    assert.equal(fetch.calls.length, 0)
  })
})

describe('authorizedFetch', () => {
  const API = 'https://api.acme.example/v3/me'
  const apiOrigins = ['https://api.acme.example']

  test('adds Authorization: Bearer and keeps the other headers and options', async () => {
    const token = makeJwt({ exp: T0 + 900 })
    storage.setItem(KEY, token)
    const fetch = stubFetch(jsonResponse(200, { ok: true }))
    const tokens = client(fetch)

    for (const headers of [{ 'X-Trace': 't1' }, new Headers({ 'X-Trace': 't1' }), [['X-Trace', 't1']]]) {
      const response = await tokens.authorizedFetch(API, { method: 'PUT', body: '{}', headers })
      assert.equal(response.status, 200)
      const { url, init } = fetch.calls.at(-1)
      const sent = new Headers(init.headers)
      assert.equal(url, API)
      assert.equal(init.method, 'PUT')
      assert.equal(init.body, '{}')
      assert.equal(sent.get('Authorization'), `Bearer ${token}`)
      assert.equal(sent.get('X-Trace'), 't1')
    }
    assert.equal(fetch.calls.length, 3) // the stored token was used: no token request
  })

  test('works with no init and keeps the headers of a Request', async () => {
    const token = makeJwt({ exp: T0 + 900 })
    storage.setItem(KEY, token)
    const fetch = stubFetch(jsonResponse(200, {}))
    const tokens = client(fetch)

    await tokens.authorizedFetch(API)
    assert.equal(new Headers(fetch.calls[0].init.headers).get('Authorization'), `Bearer ${token}`)

    await tokens.authorizedFetch(new Request(API, { headers: { 'X-Trace': 't2' } }))
    const sent = new Headers(fetch.calls[1].init.headers)
    assert.equal(sent.get('Authorization'), `Bearer ${token}`)
    assert.equal(sent.get('X-Trace'), 't2')
  })

  test('a 401 clears the token, refreshes once and retries once', async () => {
    const stale = makeJwt({ exp: T0 + 900, jti: 'revoked' })
    const fresh = makeJwt({ exp: T0 + 900, jti: 'new' })
    storage.setItem(KEY, stale)
    const fetch = stubFetch((url, init) => {
      if (url === ENDPOINT) return tokenResponse(fresh)
      const bearer = new Headers(init.headers).get('Authorization')
      return jsonResponse(bearer === `Bearer ${fresh}` ? 200 : 401, {})
    })

    const response = await client(fetch, { apiOrigins }).authorizedFetch(API)

    assert.equal(response.status, 200)
    assert.deepEqual(fetch.calls.map((call) => call.url), [API, ENDPOINT, API])
    assert.equal(storage.getItem(KEY), fresh)
  })

  test('a second 401 is returned, not retried again', async () => {
    storage.setItem(KEY, makeJwt({ exp: T0 + 900 }))
    const fetch = stubFetch((url) => (url === ENDPOINT
      ? tokenResponse(makeJwt({ exp: T0 + 900, jti: 'new' }))
      : jsonResponse(401, { error: 'invalid_token' })))

    const response = await client(fetch, { apiOrigins }).authorizedFetch(API)

    assert.equal(response.status, 401)
    assert.deepEqual(fetch.calls.map((call) => call.url), [API, ENDPOINT, API])
  })

  test('a failed refresh rejects with the token error', async () => {
    storage.setItem(KEY, makeJwt({ exp: T0 + 900 }))
    const fetch = stubFetch((url) => (url === ENDPOINT
      ? jsonResponse(401, { error: 'invalid_signature', error_description: 'signature does not match' })
      : jsonResponse(401, {})))

    const err = await rejection(client(fetch, { apiOrigins }).authorizedFetch(API))

    assert.equal(err.code, 'invalid_signature')
    assert.equal(fetch.calls.length, 2)
  })
})

describe('429 and 503 from the token endpoint', () => {
  for (const status of [429, 503]) {
    test(`${status}: waits Retry-After seconds, then retries`, async () => {
      const token = makeJwt({ exp: T0 + 900 })
      const fetch = stubFetch(jsonResponse(status, { error: 'rate_limited' }, { 'Retry-After': '7' }), tokenResponse(token))

      assert.equal(await client(fetch).getToken(), token)
      assert.deepEqual(clock.sleeps, [7000])
      assert.equal(fetch.calls.length, 2)
    })
  }

  test('Retry-After is bounded by maxRetryWaitSeconds (default 10)', async () => {
    const token = makeJwt({ exp: T0 + 900 })
    const busy = jsonResponse(429, { error: 'rate_limited' }, { 'Retry-After': '3600' })

    await client(stubFetch(busy, tokenResponse(token))).getToken()
    assert.deepEqual(clock.sleeps, [10_000])

    clock.sleeps.length = 0
    storage.clear()
    await client(stubFetch(busy, tokenResponse(token)), { maxRetryWaitSeconds: 2 }).getToken()
    assert.deepEqual(clock.sleeps, [2000])
  })

  test('Retry-After as an HTTP-date is honoured', async () => {
    const when = new Date((T0 + 5) * 1000).toUTCString()
    const fetch = stubFetch(jsonResponse(503, {}, { 'Retry-After': when }), tokenResponse(makeJwt({ exp: T0 + 900 })))

    await client(fetch).getToken()
    assert.deepEqual(clock.sleeps, [5000])
  })

  test('a missing or invalid Retry-After gets a small default backoff', async () => {
    const fetch = stubFetch(
      jsonResponse(429, {}),
      jsonResponse(503, {}, { 'Retry-After': 'soon' }),
      tokenResponse(makeJwt({ exp: T0 + 900 }))
    )

    await client(fetch).getToken()
    assert.equal(clock.sleeps.length, 2)
    for (const wait of clock.sleeps) assert.ok(wait > 0 && wait <= 10_000, `backoff ${wait} ms`)
  })

  test('tries are bounded by maxRetries, then the request rejects', async () => {
    const busy = jsonResponse(429, { error: 'rate_limited', error_description: 'slow down' }, { 'Retry-After': '1' })
    const fetch = stubFetch(busy)

    const err = await rejection(client(fetch).getToken())
    assert.equal(fetch.calls.length, 4) // the first try and 3 retries (the default)
    assert.equal(err.status, 429)
    assert.equal(err.code, 'rate_limited')

    const once = stubFetch(busy)
    await rejection(client(once, { maxRetries: 1 }).getToken())
    assert.equal(once.calls.length, 2)
  })

  test('other failures are not retried', async () => {
    const fetch = stubFetch(jsonResponse(500, { error: 'server_error' }))

    const err = await rejection(client(fetch).getToken())
    assert.equal(err.status, 500)
    assert.equal(fetch.calls.length, 1)
    assert.deepEqual(clock.sleeps, [])
  })
})

describe('storage unavailable', () => {
  for (const [name, make] of [['throws', () => new ThrowingStorage()], ['is missing', () => null]]) {
    test(`storage that ${name}: works from memory`, async () => {
      storage = make()
      const token = makeJwt({ exp: T0 + 900 })
      const fetch = stubFetch(tokenResponse(token))
      const tokens = client(fetch)

      assert.equal(await tokens.getToken(), token)
      assert.equal(await tokens.getToken(), token)
      assert.equal(fetch.calls.length, 1)

      tokens.clear() // clears the memory copy too
      await tokens.getToken()
      assert.equal(fetch.calls.length, 2)
    })
  }

  test('storage whose setItem throws (quota): works from memory', async () => {
    storage.setItem = () => {
      throw new DOMException('quota', 'QuotaExceededError')
    }
    const token = makeJwt({ exp: T0 + 900 })
    const fetch = stubFetch(tokenResponse(token))
    const tokens = client(fetch)

    assert.equal(await tokens.getToken(), token)
    assert.equal(await tokens.getToken(), token)
    assert.equal(fetch.calls.length, 1)
  })
})

describe('errors', () => {
  test('carry the status, the error code and the description', async () => {
    const fetch = stubFetch(jsonResponse(401, {
      error: 'invalid_signature',
      error_description: 'the signature does not match this customer'
    }))

    const err = await rejection(client(fetch).getToken())

    assert.ok(err instanceof Error)
    assert.equal(err.status, 401)
    assert.equal(err.code, 'invalid_signature')
    assert.match(err.message, /401/)
    assert.match(err.message, /invalid_signature/)
    assert.match(err.message, /the signature does not match this customer/)
    assert.doesNotMatch(err.message, new RegExp(SIGNATURE))
  })

  test('a body that is not JSON still gives the status', async () => {
    const fetch = stubFetch(new Response('<html>Bad gateway</html>', { status: 502 }))

    const err = await rejection(client(fetch).getToken())
    assert.equal(err.status, 502)
    assert.equal(err.code, 'http_502')
    assert.match(err.message, /HTTP 502/)
  })

  test('a network failure rejects with status 0 and names the likely causes', async () => {
    const fetch = stubFetch(() => {
      throw new TypeError('Failed to fetch')
    })

    const err = await rejection(client(fetch).getToken())
    assert.equal(err.status, 0)
    assert.equal(err.code, 'network_error')
    assert.match(err.message, /Failed to fetch/)
    assert.ok(err.message.includes(ENDPOINT), err.message)
    assert.match(err.message, /allowed_origins of \[shops\."acme\.myshopify\.com"\]/)
    assert.match(err.message, /the endpoint is wrong/)
    assert.match(err.message, /the service is down/)
    assert.doesNotMatch(err.message, new RegExp(SIGNATURE))
  })

  test('a network failure in app-proxy mode points at the App Proxy, not at CORS', async () => {
    const fetch = stubFetch(() => {
      throw new TypeError('Failed to fetch')
    })

    const err = await rejection(client(fetch, { mode: 'app-proxy', endpoint: '/apps/shapes/customer-token' }).getToken())
    assert.equal(err.code, 'network_error')
    assert.match(err.message, /App Proxy/)
    assert.doesNotMatch(err.message, /allowed_origins/)
  })

  test('a 200 without a JWT is an error, and nothing is stored', async () => {
    const fetch = stubFetch(jsonResponse(200, { access_token: 'opaque' }))

    const err = await rejection(client(fetch).getToken())
    assert.equal(err.code, 'invalid_response')
    assert.equal(storage.getItem(KEY), null)
  })

  test('signature_expired is not retried and asks for a reload', async () => {
    const fetch = stubFetch(jsonResponse(401, { error: 'signature_expired', error_description: 'ts too old' }))

    const err = await rejection(client(fetch, { mode: 'timestamped', ts: String(T0 - 90_000) }).getToken())

    assert.equal(fetch.calls.length, 1)
    assert.equal(err.status, 401)
    assert.equal(err.code, 'signature_expired')
    assert.match(err.message, /reload the page/)
    assert.deepEqual(clock.sleeps, [])
  })

  test('bad options are refused when the client is made', () => {
    const bad = [
      { endpoint: '' },
      { customerId: '' },
      { customerId: '012' },
      { customerId: null },
      { signature: undefined },
      { mode: 'implicit' },
      { mode: 'timestamped', ts: undefined },
      { mode: 'timestamped', ts: '12a' },
      { skewSeconds: -1 },
      { maxRetries: 'three' }
    ]
    for (const options of bad) {
      assert.throws(() => client(stubFetch(), options), TypeError, JSON.stringify(options))
    }
  })
})

describe('modes', () => {
  test('signed: POST JSON {id, signature}', async () => {
    const fetch = stubFetch(tokenResponse(makeJwt({ exp: T0 + 900 })))
    await client(fetch).getToken()

    const { url, init } = fetch.calls[0]
    assert.equal(url, ENDPOINT)
    assert.equal(init.method, 'POST')
    assert.equal(new Headers(init.headers).get('Content-Type'), 'application/json')
    assert.deepEqual(JSON.parse(init.body), { id: '123', signature: SIGNATURE })
  })

  test('timestamped: POST JSON {id, signature, ts} with ts as a string', async () => {
    const fetch = stubFetch(tokenResponse(makeJwt({ exp: T0 + 900 })))
    await client(fetch, { mode: 'timestamped', ts: String(T0) }).getToken()

    const { init } = fetch.calls[0]
    assert.equal(init.method, 'POST')
    assert.equal(new Headers(init.headers).get('Content-Type'), 'application/json')
    assert.deepEqual(JSON.parse(init.body), { id: '123', signature: SIGNATURE, ts: String(T0) })
  })

  test('app-proxy: same-origin GET with no body, no id and no signature', async () => {
    const fetch = stubFetch(tokenResponse(makeJwt({ exp: T0 + 900 })))
    await client(fetch, { mode: 'app-proxy', endpoint: '/apps/shapes/customer-token', signature: null }).getToken()

    const { url, init } = fetch.calls[0]
    assert.equal(url, '/apps/shapes/customer-token')
    assert.equal(init.method, 'GET')
    assert.equal(init.credentials, 'same-origin')
    assert.equal(init.body, undefined)
    assert.doesNotMatch(JSON.stringify(init), /signature|"id"/)
    assert.notEqual(storage.getItem(KEY), null)
  })

  test('the client object is frozen', () => {
    const tokens = client(stubFetch())
    assert.ok(Object.isFrozen(tokens))
    assert.deepEqual(Object.keys(tokens).sort(), ['authorizedFetch', 'clear', 'customerId', 'dpopInfo', 'getToken'])
    assert.equal(tokens.customerId, '123')
  })
})
