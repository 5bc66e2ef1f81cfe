/*
 * Shapes Token Service: browser client.
 *
 * Exchanges the customer signature that the theme's Liquid renders for a
 * short-lived JWT, keeps the raw JWT in localStorage under
 * `shapes:omneo:shapestoken:<customer id>` and reuses it until it expires; on a
 * guest page it can hold an anonymous token for the shop's public client instead.
 *
 * A classic script, dependency-free: load it with Shopify's `script_tag`, with
 * `<script src defer>` or as `type="module"`; it defines `window.ShapesToken`.
 * `shapes-token.mjs` imports this file and re-exports the same functions by name.
 * Evaluating it never throws, in a browser or in Node, and a second copy on the
 * same page (a theme asset and the service's URL, say) leaves the first in charge.
 *
 * DPoP (RFC 9449): where the page has WebCrypto and IndexedDB, and unless the config
 * says `"dpop": false`, each storage key (a customer ID, or `anonymous`) gets one ECDSA
 * P-256 key pair on first use, made non-extractable (no script can read the private
 * key out) and kept in IndexedDB. Every token request carries a `DPoP` proof signed
 * with it; a service with DPoP on then binds the token to the key (`cnf.jkt`), and
 * `authorizedFetch` sends it as `Authorization: DPoP <token>` with a fresh proof for
 * each request, so a token copied out of localStorage is useless elsewhere. The stored
 * value stays the raw JWT. A `use_dpop_nonce` answer is followed once per request, and
 * the nonce kept per origin. The key pair goes with its token: on a guest page, on
 * another customer's page, and on `clear()`. Without WebCrypto or IndexedDB the client
 * uses bearer tokens, unless the service requires DPoP: then it rejects with
 * `code: 'dpop_unavailable'`. `client.dpopInfo()` resolves to `{bound, jkt,
 * extractable}`: whether the token is bound to this page's key, the key's RFC 7638
 * thumbprint and the private key's `extractable` (false); null both without a key.
 */
;(function (root) {
  'use strict'

  const existing = root.ShapesToken
  if (existing && typeof existing.createTokenClient === 'function') return

  const KEY_PREFIX = 'shapes:omneo:shapestoken:'
  const ANONYMOUS_KEY = KEY_PREFIX + 'anonymous'
  const CONFIG_ID = 'shapes-token-config'
  const MODES = ['signed', 'timestamped', 'app-proxy', 'implicit']
  const CUSTOMER_ID = /^[1-9][0-9]{0,19}$/
  const CLIENT_ID = /^[A-Za-z0-9._-]{3,64}$/
  const DIGITS = /^[0-9]+$/
  // How long a tab keeps the lock after storing a new token (see lockedRequest).
  const HANDOFF_MS = 100
  // The longest lifetime the service gives any token (a client's token_ttl is at most
  // a day). A token claiming more, or an `exp` further ahead than that plus a day of
  // clock difference, did not come from the service: it is never used or stored.
  const MAX_LIFETIME_SECONDS = 86400
  const MAX_CLOCK_SKEW_SECONDS = 86400
  // Background refresh after a failure that may pass (network, 429, 5xx).
  const REFRESH_RETRY_MS = 60000
  const MAX_TIMER_MS = 2147483647
  // DPoP (RFC 9449): where the key pairs live, and how long IndexedDB may take before the
  // client gives up on it and uses bearer tokens (some browsers leave an open() hanging).
  const KEY_DATABASE = 'shapes-token'
  const KEY_STORE = 'dpop-keys'
  const KEY_STORE_TIMEOUT_MS = 5000
  const P256 = { name: 'ECDSA', namedCurve: 'P-256' }
  const ES256 = { name: 'ECDSA', hash: 'SHA-256' }

  /** The storage key (and Web Locks name) of one customer's token. */
  function storageKey (customerId) {
    return KEY_PREFIX + String(customerId)
  }

  function defaultStorage () {
    // Reading `localStorage` itself throws where storage is blocked (sandboxed
    // iframes, some privacy settings): that is the "no storage" case.
    try {
      return typeof localStorage !== 'undefined' ? localStorage : undefined
    } catch (err) {
      return undefined
    }
  }

  function defaultFetch () {
    return typeof fetch === 'function' ? fetch.bind(root) : undefined
  }

  function defaultCrypto () {
    // crypto.subtle exists only in secure contexts (https, localhost).
    try {
      return typeof crypto !== 'undefined' && crypto && crypto.subtle ? crypto : undefined
    } catch (err) {
      return undefined
    }
  }

  function defaultIndexedDB () {
    // Reading `indexedDB` throws in some sandboxed iframes, as localStorage does.
    try {
      return typeof indexedDB !== 'undefined' && indexedDB ? indexedDB : undefined
    } catch (err) {
      return undefined
    }
  }

  function defaultLocks () {
    return typeof navigator !== 'undefined' && navigator && navigator.locks ? navigator.locks : undefined
  }

  function defaultSleep (ms) {
    return new Promise((resolve) => setTimeout(resolve, ms))
  }

  function pageLocation () {
    return root.location && typeof root.location.href === 'string' ? root.location : undefined
  }

  function tokenError (message, status, code, cause) {
    const error = new Error(message, cause === undefined ? undefined : { cause })
    error.name = 'ShapesTokenError'
    error.status = status
    error.code = code
    return error
  }

  function decodeBase64Url (segment) {
    const base64 = segment.replace(/-/g, '+').replace(/_/g, '/')
    const binary = atob(base64 + '==='.slice((base64.length + 3) % 4))
    const bytes = Uint8Array.from(binary, (char) => char.charCodeAt(0))
    return new TextDecoder().decode(bytes)
  }

  /**
   * `{sub, exp, iat, jkt}` of a JWT, or null unless it is a decodable JWT with a string
   * `sub`, integer `iat` and `exp`, and a lifetime the service could have given it.
   * `jkt` is the thumbprint of the key a DPoP-bound token is bound to (`cnf.jkt`), else null.
   */
  function readClaims (token) {
    if (typeof token !== 'string') return null
    const parts = token.split('.')
    if (parts.length !== 3 || !/^[A-Za-z0-9_-]+$/.test(parts[1])) return null
    let claims
    try {
      claims = JSON.parse(decodeBase64Url(parts[1]))
    } catch (err) {
      return null
    }
    if (!claims || typeof claims.sub !== 'string') return null
    if (!Number.isSafeInteger(claims.exp) || !Number.isSafeInteger(claims.iat)) return null
    const lifetime = claims.exp - claims.iat
    if (lifetime <= 0 || lifetime > MAX_LIFETIME_SECONDS) return null
    const cnf = claims.cnf && typeof claims.cnf === 'object' ? claims.cnf : {}
    const jkt = typeof cnf.jkt === 'string' ? cnf.jkt : null
    return { sub: claims.sub, exp: claims.exp, iat: claims.iat, jkt }
  }

  function retryAfterSeconds (header, nowMs) {
    if (header == null) return undefined
    const value = String(header).trim()
    if (DIGITS.test(value)) return Number(value)
    const date = Date.parse(value) // RFC 9110 §10.2.3: delay-seconds or an HTTP-date
    return Number.isNaN(date) ? undefined : Math.max(0, (date - nowMs) / 1000)
  }

  async function readErrorBody (response) {
    try {
      const body = JSON.parse(await response.text())
      return body && typeof body === 'object' ? body : {}
    } catch (err) {
      return {}
    }
  }

  function errorFromResponse (status, body) {
    const code = typeof body.error === 'string' ? body.error : `http_${status}`
    if (code === 'signature_expired') {
      return tokenError(
        `Shapes token request failed: HTTP ${status} signature_expired: the signature on this page ` +
          'has expired; reload the page to get a fresh signature.',
        status,
        code
      )
    }
    const description = typeof body.error_description === 'string' ? `: ${body.error_description}` : ''
    return tokenError(`Shapes token request failed: HTTP ${status} ${code}${description}`, status, code)
  }

  /**
   * A request that got no response at all. The browser hides why (a CORS refusal and
   * an unreachable host look the same to a page), so the message lists the usual causes.
   */
  function networkError (endpoint, causes, cause) {
    return tokenError(
      `Shapes token request to ${endpoint} got no response (${cause && cause.message}). ` +
        `Likely causes: ${causes}. The service logs the error and the Origin of every request it refuses.`,
      0,
      'network_error',
      cause
    )
  }

  /** The usual reasons a token request gets no response, for `whose` config table. */
  function likelyCauses (mode, whose) {
    if (mode === 'app-proxy') {
      return "the shop's App Proxy does not forward this path to the service; or the service is down"
    }
    const location = pageLocation()
    const origin = location ? ` (${location.origin})` : ''
    return `this page's origin${origin} is missing from allowed_origins of ${whose} in the service's ` +
      'config; the endpoint is wrong; or the service is down'
  }

  /** `init` with `extra` headers set over the caller's (or the Request's own). */
  function withHeaders (input, init, extra) {
    const source = init && init.headers !== undefined
      ? init.headers
      : input && typeof input === 'object' && input.headers // a Request's own headers
    let headers
    if (typeof Headers === 'function') {
      headers = new Headers(source || undefined)
      Object.keys(extra).forEach((name) => headers.set(name, extra[name]))
    } else {
      headers = Object.assign({}, source, extra)
    }
    return Object.assign({}, init, { headers })
  }

  function positiveNumber (value, fallback, name) {
    if (value === undefined) return fallback
    if (typeof value !== 'number' || !(value >= 0)) throw new TypeError(`${name} must be a number >= 0`)
    return value
  }

  function parseUrl (url, base) {
    try {
      const parsed = new URL(url, base)
      return /^https?:$/.test(parsed.protocol) ? parsed : null
    } catch (err) {
      return null
    }
  }

  function originOf (url, base) {
    const parsed = parseUrl(url, base)
    return parsed ? parsed.origin : null
  }

  /**
   * The origins whose 401 means "this token is stale": by default the endpoint's own
   * (the service's API, such as /v1/me), when the endpoint is an absolute URL.
   */
  function apiOriginList (value, endpoint) {
    if (value === undefined || value === null) {
      const own = originOf(endpoint)
      return own ? [own] : []
    }
    if (!Array.isArray(value)) throw new TypeError('apiOrigins must be a list of origins')
    return value.map((item) => String(item).trim()).filter(Boolean).map((item) => {
      const parsed = parseUrl(item)
      if (!parsed || parsed.pathname !== '/' || parsed.search || parsed.hash || parsed.username) {
        throw new TypeError(`apiOrigins: ${JSON.stringify(item)} is not an origin like https://api.example.com`)
      }
      return parsed.origin
    })
  }

  /** The URL of a fetch() input (a string, a URL or a Request). */
  function inputUrl (input) {
    if (typeof input === 'string') return input
    if (input && typeof input === 'object') return typeof input.url === 'string' ? input.url : String(input)
    return String(input)
  }

  /** The method of a fetch() call, upper case as DPoP's `htm` compares it. */
  function inputMethod (input, init) {
    const method = (init && init.method) || (input && typeof input === 'object' && input.method) || 'GET'
    return String(method).toUpperCase()
  }

  // -- DPoP (RFC 9449): a private key no script can read, and a proof per request -------

  function base64UrlBytes (bytes) {
    let binary = ''
    new Uint8Array(bytes).forEach((byte) => {
      binary += String.fromCharCode(byte)
    })
    return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
  }

  function base64UrlJson (value) {
    return base64UrlBytes(new TextEncoder().encode(JSON.stringify(value)))
  }

  /** The proof's `htu`: the URL without query and fragment (RFC 9449 §4.2). */
  function proofUrl (url) {
    const location = pageLocation()
    const parsed = new URL(url, location && location.href)
    parsed.search = ''
    parsed.hash = ''
    return parsed.href
  }

  /** The nonce a 400 `use_dpop_nonce` (token endpoint, §8) or a 401 (resource, §9) asks for. */
  function nonceChallenge (response, body) {
    const nonce = response.headers.get('DPoP-Nonce')
    if (!nonce) return null
    if (response.status === 400) return body && body.error === 'use_dpop_nonce' ? nonce : null
    const challenge = response.status === 401 ? response.headers.get('WWW-Authenticate') || '' : ''
    return /(^|[\s,])DPoP\s/i.test(challenge) && /\berror="?use_dpop_nonce\b/.test(challenge) ? nonce : null
  }

  function isKeyPair (value) {
    return Boolean(value && value.privateKey && value.publicKey && value.privateKey.type === 'private')
  }

  // One queue for every IndexedDB operation of this page: a key pair deleted (a guest
  // page, another customer's page, clear()) is gone before any later read of that name.
  let keyQueue = Promise.resolve()
  const keyDatabases = new WeakMap() // IDBFactory => Promise of its open database

  function openKeyDatabase (factory) {
    let opened = keyDatabases.get(factory)
    if (!opened) {
      opened = new Promise((resolve, reject) => {
        const request = factory.open(KEY_DATABASE, 1)
        request.onupgradeneeded = () => request.result.createObjectStore(KEY_STORE)
        request.onsuccess = () => {
          const database = request.result
          database.onversionchange = () => {
            database.close()
            keyDatabases.delete(factory)
          }
          resolve(database)
        }
        request.onerror = () => reject(request.error)
      })
      opened.catch(() => keyDatabases.delete(factory))
      keyDatabases.set(factory, opened)
    }
    return opened
  }

  /**
   * Runs `start(store, outcome)` in one transaction of the key store, after every earlier
   * one; resolves to `outcome.value` once it has committed, rejects if it fails or hangs.
   */
  function keyTransaction (factory, mode, start) {
    const run = keyQueue.then(() => new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('IndexedDB did not answer')), KEY_STORE_TIMEOUT_MS)
      if (timer && typeof timer.unref === 'function') timer.unref()
      const done = (settle) => (value) => {
        clearTimeout(timer)
        settle(value)
      }
      openKeyDatabase(factory).then((database) => {
        const transaction = database.transaction(KEY_STORE, mode)
        const outcome = {}
        transaction.oncomplete = () => done(resolve)(outcome.value)
        transaction.onabort = () => done(reject)(transaction.error || new Error('IndexedDB transaction aborted'))
        start(transaction.objectStore(KEY_STORE), outcome)
      }).catch(done(reject))
    }))
    keyQueue = run.catch(() => {})
    return run
  }

  /** Deletes the key pair of every storage key `keep` refuses. */
  function deleteKeyPairs (factory, keep) {
    return keyTransaction(factory, 'readwrite', (store) => {
      const request = store.getAllKeys()
      request.onsuccess = () => request.result.forEach((name) => {
        if (typeof name === 'string' && name.startsWith(KEY_PREFIX) && !keep(name)) store.delete(name)
      })
    })
  }

  /** The key pair kept for `name`, or a new one; two tabs asking at once get the same. */
  async function keyPairFor (factory, subtle, name) {
    const kept = await keyTransaction(factory, 'readonly', (store, outcome) => {
      const request = store.get(name)
      request.onsuccess = () => {
        outcome.value = request.result
      }
    })
    if (isKeyPair(kept)) return kept
    // Not extractable: no script, this one included, can read the private key out. The
    // public key stays extractable for the proof's `jwk`. IndexedDB keeps the CryptoKey
    // objects themselves (structured clone), never key material.
    const made = await subtle.generateKey(P256, false, ['sign', 'verify'])
    return keyTransaction(factory, 'readwrite', (store, outcome) => {
      const request = store.get(name)
      request.onsuccess = () => {
        if (isKeyPair(request.result)) {
          outcome.value = request.result // another tab made one first
        } else {
          store.put(made, name)
          outcome.value = made
        }
      }
    })
  }

  /** `{pair, jwk, jkt}`: the public JWK a proof carries and its RFC 7638 SHA-256 thumbprint. */
  async function proofKeyFor (factory, subtle, name) {
    const pair = await keyPairFor(factory, subtle, name)
    const { kty, crv, x, y } = await subtle.exportKey('jwk', pair.publicKey)
    // RFC 7638 §3.2: the required members only, in lexicographic order, no whitespace.
    const members = JSON.stringify({ crv, kty, x, y })
    const jkt = base64UrlBytes(await subtle.digest('SHA-256', new TextEncoder().encode(members)))
    return { pair, jwk: { kty, crv, x, y }, jkt }
  }

  /** A DPoP proof (RFC 9449 §4.2): an ES256 JWS over `claims`, with the public key in its header. */
  async function signProof (subtle, signer, claims) {
    const header = { typ: 'dpop+jwt', alg: 'ES256', jwk: signer.jwk }
    const input = `${base64UrlJson(header)}.${base64UrlJson(claims)}`
    // WebCrypto's ECDSA signature is already JWS's raw r || s (RFC 7518 §3.4), not DER.
    const signature = await subtle.sign(ES256, signer.pair.privateKey, new TextEncoder().encode(input))
    return `${input}.${base64UrlBytes(signature)}`
  }

  /**
   * A token client; returns a frozen `{customerId, getToken, authorizedFetch, clear, dpopInfo}`.
   *
   * Options: endpoint; mode ('signed' | 'timestamped' | 'app-proxy' | 'implicit');
   * customerId, signature (signed, timestamped), ts (timestamped); clientId (implicit:
   * an anonymous token of a public client); apiOrigins (where a 401 re-mints; default:
   * the endpoint's origin); onChange({customerId, expiresAt}); keepFresh (false);
   * dpop (true; false sends no DPoP proofs and leaves IndexedDB alone; App Proxy mode
   * never sends them); storage (localStorage), fetch, crypto (globalThis.crypto),
   * indexedDB (globalThis.indexedDB), locks (navigator.locks; null for none), skewSeconds
   * (60), maxRetries (3), maxRetryWaitSeconds (10), now (ms, Date.now), sleep (ms => Promise).
   */
  function createTokenClient (options) {
    const {
      endpoint,
      customerId,
      clientId,
      signature,
      ts,
      mode = 'signed',
      onChange,
      keepFresh = false,
      dpop = true,
      storage = defaultStorage(),
      fetch: fetchImpl = defaultFetch(),
      crypto: cryptoImpl = defaultCrypto(),
      indexedDB: keyFactory = defaultIndexedDB(),
      locks = defaultLocks(),
      now = Date.now,
      sleep = defaultSleep
    } = options || {}
    const skewSeconds = positiveNumber(options && options.skewSeconds, 60, 'skewSeconds')
    const maxRetries = Math.floor(positiveNumber(options && options.maxRetries, 3, 'maxRetries'))
    const maxRetryWaitSeconds = positiveNumber(options && options.maxRetryWaitSeconds, 10, 'maxRetryWaitSeconds')

    if (!MODES.includes(mode)) throw new TypeError(`mode must be one of ${MODES.join(', ')}`)
    if (typeof endpoint !== 'string' || endpoint === '') throw new TypeError('endpoint must be a non-empty string')
    const anonymous = mode === 'implicit'
    if (anonymous) {
      if (typeof clientId !== 'string' || !CLIENT_ID.test(clientId)) throw new TypeError('clientId must be a client_id ([A-Za-z0-9._-]{3,64}) in implicit mode')
    } else if (!CUSTOMER_ID.test(String(customerId))) {
      throw new TypeError('customerId must be a Shopify customer ID (digits)')
    }
    if ((mode === 'signed' || mode === 'timestamped') && (typeof signature !== 'string' || signature === '')) {
      throw new TypeError(`signature is required in ${mode} mode`)
    }
    if (mode === 'timestamped' && !DIGITS.test(String(ts))) throw new TypeError('ts must be digits in timestamped mode')
    if (typeof fetchImpl !== 'function') throw new TypeError('no fetch implementation available')
    if (onChange !== undefined && typeof onChange !== 'function') throw new TypeError('onChange must be a function')
    if (typeof dpop !== 'boolean') throw new TypeError('dpop must be true or false')
    const apiOrigins = apiOriginList(options && options.apiOrigins, endpoint)

    // Whose token this is: the `sub` it must carry, and where it is kept.
    const subject = anonymous ? String(clientId) : String(customerId)
    const key = anonymous ? ANONYMOUS_KEY : storageKey(subject)
    const causes = likelyCauses(mode, anonymous ? `[clients."${subject}"]` : shopOf(endpoint))
    let memoryToken = null // used when storage is missing or throws
    let inflight = null
    let refusal = null // a 4xx answer: the same request would get it again
    let refreshTimer = null
    // Why this client sends no DPoP proofs (it then gets bearer tokens), or null while it can.
    let noProof = !dpop
      ? 'DPoP is turned off here (dpop: false)'
      : mode === 'app-proxy'
        ? 'App Proxy requests carry no DPoP proof'
        : !cryptoImpl || !cryptoImpl.subtle || typeof cryptoImpl.getRandomValues !== 'function'
          ? 'this page has no WebCrypto (crypto.subtle needs https)'
          : !keyFactory ? 'this page has no IndexedDB to keep a DPoP key in' : null
    let proofKey = null // {pair, jwk, jkt} once loaded
    let keyLoading = null
    const nonces = new Map() // origin => the DPoP-Nonce it sent last (RFC 9449 §8)

    /** The token's claims if it is one this client may use: this subject's, plausible. */
    function usable (token) {
      const claims = readClaims(token)
      if (!claims || claims.sub !== subject) return null
      if (claims.exp > now() / 1000 + MAX_LIFETIME_SECONDS + MAX_CLOCK_SKEW_SECONDS) return null
      // A token bound to a key this client does not hold is of no use to it (RFC 9449 §6).
      if (claims.jkt !== null && (proofKey === null || claims.jkt !== proofKey.jkt)) return null
      return claims
    }

    /** When a token stops counting as fresh (ms): `skewSeconds` before exp, at most half its life early. */
    function staleAt (claims) {
      const skew = Math.min(skewSeconds, (claims.exp - claims.iat) / 2)
      return (claims.exp - skew) * 1000
    }

    function isFresh (token) {
      const claims = usable(token)
      return claims !== null && staleAt(claims) > now()
    }

    function readStorage () {
      try {
        return storage ? storage.getItem(key) : null
      } catch (err) {
        return null
      }
    }

    function readStored () {
      const stored = readStorage()
      if (stored !== null && stored !== undefined && !usable(stored)) {
        forget(stored) // not a JWT, another subject's, or an absurd exp: drop it
      } else if (isFresh(stored)) {
        return stored
      }
      return isFresh(memoryToken) ? memoryToken : null
    }

    /** This client's token as it stands (fresh or not), or null. */
    function current () {
      const stored = readStorage()
      if (usable(stored)) return stored
      return usable(memoryToken) ? memoryToken : null
    }

    // What onChange was last told.
    let announced = current()

    function announce (token) {
      if (token === announced) return
      announced = token
      schedule(token)
      if (onChange) {
        const claims = token === null ? null : readClaims(token)
        onChange({ customerId: anonymous ? null : subject, expiresAt: claims ? claims.exp : null })
      }
    }

    function store (token) {
      // The memory copy only stands in for storage that fails: once stored, storage is
      // the truth, so a token another tab removed (a logout there) is not served again.
      memoryToken = null
      try {
        if (storage) storage.setItem(key, token)
        else memoryToken = token
      } catch (err) {
        memoryToken = token // private mode or quota: this tab keeps working
      }
      announce(token)
    }

    /** Forget `token`, or whatever is stored when called without one. */
    function forget (token) {
      if (token === undefined || memoryToken === token) memoryToken = null
      try {
        if (storage && (token === undefined || storage.getItem(key) === token)) storage.removeItem(key)
      } catch (err) {
        // Storage unavailable: nothing persisted to remove.
      }
      announce(current()) // a concurrent call may already have stored a newer token
    }

    function tokenRequest () {
      if (mode === 'app-proxy') {
        // Same-origin Shopify App Proxy: Shopify adds the customer and its signature.
        return { method: 'GET', credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } }
      }
      let body
      let type = 'application/json'
      if (anonymous) {
        // A form body needs no CORS preflight of its own (a DPoP header does); a public
        // client identifies itself by client_id alone (RFC 6749 §3.2.1).
        body = new URLSearchParams({ grant_type: 'implicit', client_id: subject }).toString()
        type = 'application/x-www-form-urlencoded'
      } else {
        const fields = { id: subject, signature }
        if (mode === 'timestamped') fields.ts = String(ts)
        body = JSON.stringify(fields)
      }
      return { method: 'POST', credentials: 'omit', cache: 'no-store', headers: { 'Content-Type': type }, body }
    }

    async function tokenFrom (response) {
      let body
      try {
        body = await response.json()
      } catch (err) {
        throw tokenError(`Shapes token request failed: HTTP ${response.status} with a body that is not JSON`,
          response.status, 'invalid_response', err)
      }
      const token = body && (body.access_token || body.token)
      const claims = readClaims(token)
      if (!claims) {
        throw tokenError(`Shapes token request failed: HTTP ${response.status} without a JWT access_token ` +
          'whose lifetime the service could have given', response.status, 'invalid_response')
      }
      if (claims.sub !== subject) {
        throw tokenError(`Shapes token request failed: the token is not for ${anonymous ? 'client' : 'customer'} ` +
          `${subject}; nothing was stored`, response.status, 'invalid_response')
      }
      if (claims.jkt !== null && (proofKey === null || claims.jkt !== proofKey.jkt)) {
        throw tokenError('Shapes token request failed: the token is bound to a DPoP key this page does not hold; ' +
          'nothing was stored', response.status, 'invalid_response')
      }
      if (!usable(token)) {
        throw tokenError('Shapes token request failed: the token expires implausibly far from this ' +
          "device's clock; check the date and time of this device", response.status, 'invalid_response')
      }
      return token
    }

    /** This client's DPoP key, made on first use; null when it has none (bearer tokens). */
    function loadKey () {
      if (noProof !== null) return Promise.resolve(null)
      if (!keyLoading) {
        keyLoading = proofKeyFor(keyFactory, cryptoImpl.subtle, key).then((loaded) => {
          proofKey = loaded
          return loaded
        }, (err) => {
          noProof = `this page could not make or keep a DPoP key (${err && err.message})`
          return null
        })
      }
      return keyLoading
    }

    /** A proof for one request, signed by `signer` (and for `token`, at a resource: `ath`). */
    async function proofFor (signer, method, url, token) {
      const htu = proofUrl(url)
      const claims = {
        jti: base64UrlBytes(cryptoImpl.getRandomValues(new Uint8Array(16))),
        htm: method,
        htu,
        iat: Math.floor(now() / 1000)
      }
      const nonce = nonces.get(originOf(htu))
      if (nonce) claims.nonce = nonce
      if (token !== null) {
        claims.ath = base64UrlBytes(await cryptoImpl.subtle.digest('SHA-256', new TextEncoder().encode(token)))
      }
      return signProof(cryptoImpl.subtle, signer, claims)
    }

    function keepNonce (url, response) {
      const nonce = response.headers && response.headers.get('DPoP-Nonce')
      const location = pageLocation()
      const origin = nonce ? originOf(url, location && location.href) : null
      if (origin) nonces.set(origin, nonce)
    }

    /** The token request, with a DPoP proof while this client has a key. */
    async function tokenInit () {
      const init = tokenRequest()
      if (proofKey === null) return init
      try {
        init.headers.DPoP = await proofFor(proofKey, init.method, endpoint, null)
      } catch (err) {
        // WebCrypto refused to sign: go on with bearer tokens, as without WebCrypto.
        proofKey = null
        noProof = `this page could not sign a DPoP proof (${err && err.message})`
      }
      return init
    }

    /** The service requires DPoP and this client has no key: an error that says why. */
    function proofRequired (status, body) {
      if (proofKey !== null || body.error !== 'invalid_dpop_proof') return null
      const description = typeof body.error_description === 'string' ? ` (${body.error_description})` : ''
      return tokenError(`Shapes token request failed: HTTP ${status} invalid_dpop_proof${description}: the ` +
        `service requires DPoP and ${noProof}`, status, 'dpop_unavailable')
    }

    async function requestToken () {
      let nonceFollowed = false
      for (let attempt = 0; ;) {
        const init = await tokenInit()
        let response
        try {
          response = await fetchImpl(endpoint, init)
        } catch (err) {
          throw networkError(endpoint, causes, err)
        }
        keepNonce(endpoint, response)
        if (response.ok) {
          const token = await tokenFrom(response)
          store(token)
          return token
        }
        if ((response.status === 429 || response.status === 503) && attempt < maxRetries) {
          const asked = retryAfterSeconds(response.headers.get('Retry-After'), now())
          const wait = Math.min(asked === undefined ? 2 ** attempt : asked, maxRetryWaitSeconds)
          attempt++
          await sleep(wait * 1000)
          continue
        }
        const body = await readErrorBody(response)
        // RFC 9449 §8: the service wants a nonce of its own in the proof; the next proof has it.
        if (proofKey !== null && !nonceFollowed && nonceChallenge(response, body)) {
          nonceFollowed = true
          continue
        }
        const error = proofRequired(response.status, body) || errorFromResponse(response.status, body)
        // The proof on this page never changes, so a refusal is final for it (a reload
        // renders a new one); asking again would only spend the per-IP budget. A nonce
        // refused twice is not: the next request gets a fresh one.
        if (response.status >= 400 && response.status < 500 && response.status !== 429 &&
          error.code !== 'use_dpop_nonce') refusal = error
        throw error
      }
    }

    /** Under the subject's lock: storage again (another tab may have just stored a token), else a request. */
    function lockedRequest () {
      if (!locks || typeof locks.request !== 'function') return readStored() || requestToken()
      return new Promise((resolve, reject) => {
        locks.request(key, async () => {
          const stored = readStored()
          if (stored) {
            announce(stored)
            return resolve(stored)
          }
          try {
            resolve(await requestToken())
          } catch (err) {
            return reject(err)
          }
          // A browser keeps a copy of localStorage per tab process and updates the others
          // asynchronously: hold the lock a moment so the next tab reads this token.
          await new Promise((done) => setTimeout(done, HANDOFF_MS))
        }).catch(reject)
      })
    }

    /** The token: the stored one while fresh, else a new one (one request at a time). */
    function getToken () {
      return noProof === null ? loadKey().then(tokenNow) : tokenNow()
    }

    function tokenNow () {
      const token = readStored()
      if (token) {
        announce(token)
        return Promise.resolve(token)
      }
      if (refusal) return Promise.reject(refusal)
      if (!inflight) {
        const request = (async () => lockedRequest())()
        inflight = request.finally(() => {
          inflight = null
        })
      }
      return inflight
    }

    /**
     * fetch() with the token: `Authorization: DPoP <token>` and a fresh proof for this
     * method and URL when it is bound to this client's key, `Authorization: Bearer <token>`
     * otherwise. On a 401 from one of `apiOrigins`, drops the token, gets a new one and
     * retries once; a 401 from elsewhere is returned as it is, so a third party's refusal
     * never spends the customer's mint budget.
     */
    async function authorizedFetch (input, init) {
      const token = await getToken()
      const response = await sendWith(input, init, token)
      if (response.status !== 401) return response
      const location = pageLocation()
      if (!apiOrigins.includes(originOf(inputUrl(input), location && location.href))) return response
      forget(token) // only this token: a concurrent call may already have stored a newer one
      return sendWith(input, init, await getToken())
    }

    /** One authorized request; a 401 asking for a DPoP nonce gets one more (RFC 9449 §9). */
    async function sendWith (input, init, token) {
      const url = inputUrl(input)
      const claims = readClaims(token)
      const signer = claims !== null && claims.jkt !== null ? proofKey : null // bound: signs
      for (let followed = false; ; followed = true) {
        const headers = signer
          ? { Authorization: `DPoP ${token}`, DPoP: await proofFor(signer, inputMethod(input, init), url, token) }
          : { Authorization: `Bearer ${token}` }
        const response = await fetchImpl(input, withHeaders(input, init, headers))
        keepNonce(url, response)
        if (!signer || followed || !nonceChallenge(response, null)) return response
      }
    }

    /** Removes this client's stored token (and the memory copy) and its DPoP key; resolves once the key is gone. */
    function clear () {
      forget()
      proofKey = null
      keyLoading = null // the next token gets a new key
      if (!keyFactory) return Promise.resolve()
      return deleteKeyPairs(keyFactory, (name) => name !== key).then(() => {}, () => {})
    }

    /**
     * What a page may show of DPoP: `{bound, jkt, extractable}`. `jkt` is the thumbprint
     * of this client's public key, `bound` whether its token carries that `cnf.jkt`,
     * `extractable` that of the private key (false); both null without a key.
     */
    async function dpopInfo () {
      const loaded = await loadKey()
      const claims = readClaims(current())
      return Object.freeze({
        bound: Boolean(loaded && claims && claims.jkt === loaded.jkt),
        jkt: loaded ? loaded.jkt : null,
        extractable: loaded ? loaded.pair.privateKey.extractable : null
      })
    }

    // keepFresh: fetch the next token when this one turns stale, while the page is
    // visible, so whoever follows onChange always holds a valid token.
    function schedule (token) {
      if (!keepFresh) return
      clearTimeout(refreshTimer)
      refreshTimer = null
      const claims = token === null ? null : usable(token)
      if (claims) later(refresh, Math.max(1000, staleAt(claims) - now()))
    }

    function later (callback, ms) {
      refreshTimer = setTimeout(callback, Math.min(ms, MAX_TIMER_MS))
      // Node (tests, server-side rendering) must be able to exit with a refresh pending.
      if (refreshTimer && typeof refreshTimer.unref === 'function') refreshTimer.unref()
    }

    function refresh () {
      refreshTimer = null
      if (typeof document !== 'undefined' && document.visibilityState === 'hidden') {
        document.addEventListener('visibilitychange', refresh, { once: true })
        return
      }
      getToken().then(schedule, (err) => {
        report(err)
        const transient = err.status === 0 || err.status === 429 || err.status >= 500
        if (transient) later(refresh, REFRESH_RETRY_MS)
      })
    }

    if (keepFresh || onChange) {
      // Another tab stored, replaced or removed this token (a login, a logout).
      if (typeof root.addEventListener === 'function') {
        root.addEventListener('storage', (event) => {
          if (event.key !== key && event.key !== null) return
          announce(usable(event.newValue) ? event.newValue : null)
        })
      }
      schedule(announced)
    }

    // customerId tells a customer's client from a guest's anonymous one (null).
    return Object.freeze({ customerId: anonymous ? null : subject, getToken, authorizedFetch, clear, dpopInfo })
  }

  /** `[shops."acme.myshopify.com"]`, read from a customer-token endpoint, for messages. */
  function shopOf (endpoint) {
    const match = /\/v1\/shops\/([^/?#]+)\/customer-token/.exec(String(endpoint))
    return match ? `[shops."${match[1]}"]` : 'the shop'
  }

  function removeKeys (storage, keep) {
    if (!storage) return 0
    const keys = []
    try {
      for (let i = 0; i < storage.length; i++) {
        const name = storage.key(i)
        if (typeof name === 'string' && name.startsWith(KEY_PREFIX) && !keep(name)) keys.push(name)
      }
      keys.forEach((name) => storage.removeItem(name))
    } catch (err) {
      return 0 // storage that throws (private mode) holds nothing to remove
    }
    return keys.length
  }

  /** Removes the tokens `keep` refuses, now, and their DPoP key pairs in `keyFactory`, soon. */
  function removeTokens (storage, keep, keyFactory) {
    // In the background: a key pair without its token proves nothing, and this page's
    // own client reads the key store only after this (keyQueue).
    if (keyFactory) deleteKeyPairs(keyFactory, keep).catch(() => {})
    return removeKeys(storage, keep)
  }

  /** Removes every `shapes:omneo:shapestoken:*` key and DPoP key pair (a guest page without a guest client); returns how many tokens. */
  function clearAllTokens (storage = defaultStorage()) {
    return removeTokens(storage, () => false, defaultIndexedDB())
  }

  /** Removes every customer's token and key pair and keeps the anonymous ones (a guest page with a guest client). */
  function clearCustomerTokens (storage = defaultStorage()) {
    return removeTokens(storage, (name) => name === ANONYMOUS_KEY, defaultIndexedDB())
  }

  function report (err) {
    // The message carries the status and the server's error code, never a token or signature.
    if (typeof console !== 'undefined') console.error(`ShapesToken: ${err && err.message}`)
  }

  // -- the page's client, started from the snippet's config tag -------------------------

  function configError (message) {
    // No "ShapesToken: " here: report() adds it, and the error's name says whose it is.
    return tokenError(message, 0, 'invalid_config')
  }

  /** The config tag's JSON, or null without one. Refuses a second tag: which would be the real one? */
  function readPageConfig () {
    const found = typeof document.querySelectorAll === 'function'
      ? Array.from(document.querySelectorAll(`[id="${CONFIG_ID}"]`))
      : []
    if (found.length === 0) return null
    if (found.length > 1) {
      throw configError(`this page has ${found.length} #${CONFIG_ID} elements; render the shapes-token ` +
        'snippet once per page (a second config could make the page act for another customer)')
    }
    const element = found[0]
    if (String(element.tagName).toUpperCase() !== 'SCRIPT' || element.type !== 'application/json') {
      throw configError(`#${CONFIG_ID} must be the snippet's <script type="application/json"> tag`)
    }
    try {
      const config = JSON.parse(element.textContent)
      if (config && typeof config === 'object') return config
    } catch (err) {
      // reported below
    }
    throw configError(`#${CONFIG_ID} does not hold a JSON object`)
  }

  function dispatchChange (detail) {
    if (typeof root.dispatchEvent === 'function' && typeof CustomEvent === 'function') {
      root.dispatchEvent(new CustomEvent('shapes-token:change', { detail }))
    }
  }

  /** The page's client from its config: a customer's, a guest's anonymous one, or null. */
  function startPage () {
    const config = readPageConfig()
    if (config === null) return null
    // `dpop: false` keeps this page off IndexedDB altogether.
    const dpop = config.dpop !== false
    const keyFactory = dpop ? defaultIndexedDB() : undefined
    const common = { apiOrigins: config.apiOrigins || undefined, onChange: dispatchChange, keepFresh: true, dpop }
    if (config.customerId === null || config.customerId === undefined) {
      if (!config.guestClientId) {
        removeTokens(defaultStorage(), () => false, keyFactory) // a guest: logout leaves nothing
        return null
      }
      // A guest keeps (or fetches) only the anonymous token.
      removeTokens(defaultStorage(), (name) => name === ANONYMOUS_KEY, keyFactory)
      if (!config.guestEndpoint) {
        throw configError('guest_client needs guest_endpoint when the endpoint is not an absolute URL')
      }
      return createTokenClient({ ...common, mode: 'implicit', endpoint: config.guestEndpoint, clientId: config.guestClientId })
    }
    // A shared computer must not keep the previous customer's token readable.
    const own = storageKey(config.customerId)
    removeTokens(defaultStorage(), (name) => name === own || name === ANONYMOUS_KEY, keyFactory)
    const mode = config.mode || 'signed'
    if (mode !== 'app-proxy' && !config.signature) {
      throw configError('the page has no signature: set the shop metafield omneo.id_secret ' +
        '(the snippet reads it with .value)')
    }
    return createTokenClient({
      ...common,
      mode,
      endpoint: config.endpoint,
      customerId: config.customerId,
      signature: config.signature,
      ts: config.ts
    })
  }

  // The snippet's inline placeholder made `ready` before this file loaded; keep that
  // promise, so code that already holds it is answered. Without the snippet, make one.
  let settle
  let ready
  if (existing && existing.ready && typeof existing.settle === 'function') {
    ready = existing.ready
    settle = existing.settle
  } else {
    ready = new Promise((resolve, reject) => {
      settle = (error, client) => (error ? reject(error) : resolve(client))
    })
  }

  root.ShapesToken = Object.freeze({
    createTokenClient,
    clearAllTokens,
    clearCustomerTokens,
    storageKey,
    ANONYMOUS_KEY,
    ready
  })

  function start () {
    let client
    try {
      client = startPage()
    } catch (err) {
      report(err)
      ready.catch(() => {}) // reported once, here: not an unhandled rejection as well
      settle(err)
      return
    }
    if (client) client.getToken().catch(report) // the first token, fetched at once
    settle(null, client)
  }

  if (typeof document === 'undefined' || !document) {
    settle(null, null) // not a page (Node): no page client
  } else if (document.readyState === 'loading') {
    // Loaded in <head> (script_tag) or before the snippet: read the config once the
    // document is parsed, so every #shapes-token-config is seen, wherever it is.
    document.addEventListener('DOMContentLoaded', start, { once: true })
  } else {
    start()
  }
})(typeof globalThis !== 'undefined' ? globalThis : this)
