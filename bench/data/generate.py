#!/usr/bin/env python3
"""Writes taut-bench's inputs into this directory. Deterministic: a fixed seed, no clock, no network.

The outputs are committed, so the benchmark never depends on this script running; rerun it only to
change the inputs (python3 bench/data/generate.py), and commit what it writes.

  tiny.http          request-line and Host, about 40 bytes
  typical.http       a browser navigation, about 700 bytes, 11 fields, cookies
  large.http         a browser navigation with client hints, long cookie and user-agent, ~1.4 kB
  rotating.http      1024 distinct requests back to back (browsers, API clients, bots, proxies;
                     GET/POST/HEAD/PUT/DELETE/PATCH/OPTIONS; bodies where the method has one)
  rotating.index     one line per request of rotating.http: "<head bytes> <message bytes>"
  pipelined.http     256 GET requests a browser would pipeline on one connection for a page
  chunked-small.http a chunked upload: head, then 64 KiB of body in chunks of 1 to 512 bytes
  chunked-16k.http   a chunked upload: head, then 512 KiB of body in 16 KiB chunks
  resp-small.http    a 304 Not Modified from a CDN edge, 272 bytes, 9 fields
  resp-typical.http  a 200 page from an origin behind a CDN: caching, validators, security
                     headers, CDN fields (Age, Via, X-Cache); 871 bytes, 22 fields
  resp-large.http    a 200 login page: 12 Set-Cookie lines, a long Content-Security-Policy,
                     Permissions-Policy, Report-To, Link preloads; 3614 bytes, 37 fields
  resp-pipelined.http 128 responses to a browser's requests for a page's assets on one
                     connection, back to back: 87 200s with bodies of 16-256 bytes (Content-Length)
                     and 41 304s, 54.7 kB in all

Every request is valid under RFC 9112 as written (CRLF line endings, Host on HTTP/1.1, tokens and
targets of allowed bytes), so strict parsers accept all of them; so is every response (status
100-599, reason-phrase of allowed bytes, every 200 framed by Content-Length).
"""

import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 20240501
CRLF = "\r\n"


def head(request_line, fields):
    return request_line + CRLF + "".join(f"{name}: {value}{CRLF}" for name, value in fields) + CRLF


def write(name, data):
    if isinstance(data, str):
        data = data.encode("ascii")
    with open(os.path.join(HERE, name), "wb") as out:
        out.write(data)
    print(f"{name}: {len(data)} bytes")


# --- the fixed requests ---------------------------------------------------------------------------

TINY = head("GET / HTTP/1.1", [("Host", "example.com")])

TYPICAL = head(
    "GET /articles/2024/05/parsing-http-in-practice?ref=homepage HTTP/1.1",
    [
        ("Host", "www.example.com"),
        ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"),
        ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"),
        ("Accept-Language", "en-US,en;q=0.5"),
        ("Accept-Encoding", "gzip, deflate, br"),
        ("Referer", "https://www.example.com/"),
        ("Connection", "keep-alive"),
        (
            "Cookie",
            "session=Z3JhbmQtY2FueW9uLXN1bnJpc2UtNDI5MQ.eyJ1aWQiOjgxMjM0fQ.h9Tq2PL0sv; "
            "theme=dark; consent=analytics%3Dno%26ads%3Dno; _pk_id.1.1fff=4a6c1e2b9f0d7a35.1714562310.; "
            "_pk_ses.1.1fff=1; lang=en; tz=Europe%2FBerlin",
        ),
        ("Upgrade-Insecure-Requests", "1"),
        ("Sec-Fetch-Dest", "document"),
        ("Sec-Fetch-Mode", "navigate"),
    ],
)

LARGE = head(
    "GET /account/orders?page=2&sort=date_desc&filter=shipped HTTP/1.1",
    [
        ("Host", "shop.example.com"),
        ("Connection", "keep-alive"),
        ("sec-ch-ua", '"Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"'),
        ("sec-ch-ua-mobile", "?0"),
        ("sec-ch-ua-platform", '"Windows"'),
        ("Upgrade-Insecure-Requests", "1"),
        (
            "User-Agent",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80 ExampleCorpManagedBrowser/3.14.159",
        ),
        (
            "Accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
            "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
        ),
        ("Sec-Fetch-Site", "same-origin"),
        ("Sec-Fetch-Mode", "navigate"),
        ("Sec-Fetch-User", "?1"),
        ("Sec-Fetch-Dest", "document"),
        ("Referer", "https://shop.example.com/account/orders?page=1&sort=date_desc&filter=shipped"),
        ("Accept-Encoding", "gzip, deflate, br, zstd"),
        ("Accept-Language", "en-GB,en-US;q=0.9,en;q=0.8,de;q=0.7"),
        (
            "Cookie",
            "__Host-session=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6"
            "IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyLCJyb2xlcyI6WyJ1c2VyIiwiYnV5ZXIiXX0.SflKxwRJSMeKKF2QT"
            "4fwpMeJf36POk6yJV_adQssw5c; cart=7f3a9c21-5d4e-4b8a-9e6f-0c1d2e3f4a5b; currency=GBP; "
            "locale=en-GB; recently_viewed=sku-10482%2Csku-88213%2Csku-55120%2Csku-90017%2Csku-31415; "
            "_ga=GA1.1.1938475621.1714562310; _ga_X9Y8Z7W6V5=GS1.1.1714562310.12.1.1714562999.0.0.0; "
            "ab_checkout=variant-b; csrftoken=Qx8sLw2mN4vB6nC1zX3aS5dF7gH9jK0lP2oI4uY6tR8eW",
        ),
        ("Priority", "u=0, i"),
    ],
)

# --- the rotating set -----------------------------------------------------------------------------

WORDS = (
    "account api assets blog cart catalog checkout docs download feed files help images items "
    "login logout media news orders products profile reports search settings shop static status "
    "support tags uploads users v1 v2 videos wiki"
).split()
QUERY_KEYS = "q page per_page sort order filter lang ref utm_source utm_medium id format fields".split()
QUERY_VALUES = (
    "1 2 10 50 asc desc date_desc json csv en de fr newsletter social homepage "
    "red%20shoes caf%C3%A9 a%2Bb price%3E100 2024-05-01 true false"
).split()
EXTENSIONS = ["", "", "", ".html", ".json", ".png", ".jpg", ".css", ".js", ".svg", ".woff2", ".xml"]
HOSTS = [
    "example.com", "www.example.com", "api.example.com", "shop.example.com", "cdn.example.net",
    "static.example.org", "auth.example.com", "localhost:8080", "10.0.4.17:3000", "[2001:db8::5]:8443",
]

FIREFOX = "Mozilla/5.0 ({os}; rv:{v}.0) Gecko/20100101 Firefox/{v}.0"
CHROME = ("Mozilla/5.0 ({os}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 "
          "Safari/537.36")
SAFARI = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.{v} Safari/605.1.15")
MOBILE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_{v} like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.{v} Mobile/15E148 Safari/604.1")
OSES = ["X11; Linux x86_64", "Windows NT 10.0; Win64; x64", "Macintosh; Intel Mac OS X 10.15",
        "X11; Ubuntu; Linux x86_64"]
TOOLS = ["curl/7.88.1", "curl/8.5.0", "Go-http-client/1.1", "python-requests/2.31.0",
         "okhttp/4.12.0", "Wget/1.21.3", "PostmanRuntime/7.37.3", "axios/1.6.8",
         "Apache-HttpClient/4.5.14 (Java/17.0.10)", "ExampleApp/5.2.1 (Android 14; Pixel 8)"]
BOTS = ["Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "kube-probe/1.29", "ELB-HealthChecker/2.0", "Prometheus/2.51.0",
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"]
LANGUAGES = ["en-US,en;q=0.5", "en-GB,en;q=0.9", "de-DE,de;q=0.9,en;q=0.8", "fr-FR,fr;q=0.9",
             "ja,en-US;q=0.9,en;q=0.8", "es-ES,es;q=0.8,en-US;q=0.5,en;q=0.3", "pt-BR,pt;q=0.9"]
TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
HEX = "0123456789abcdef"


class Generator:
    def __init__(self, seed):
        self.r = random.Random(seed)

    def token(self, n):
        return "".join(self.r.choice(TOKEN_CHARS) for _ in range(n))

    def hexstr(self, n):
        return "".join(self.r.choice(HEX) for _ in range(n))

    def uuid(self):
        h = self.hexstr(32)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"

    def path(self):
        r = self.r
        parts = [r.choice(WORDS) for _ in range(r.randint(1, 4))]
        if r.random() < 0.4:
            parts.append(str(r.randint(1, 999999)))
        if r.random() < 0.2:
            parts.append(self.token(r.randint(6, 22)))
        target = "/" + "/".join(parts) + r.choice(EXTENSIONS)
        if r.random() < 0.45:
            pairs = [f"{r.choice(QUERY_KEYS)}={r.choice(QUERY_VALUES)}" for _ in range(r.randint(1, 5))]
            target += "?" + "&".join(pairs)
        return target

    def user_agent(self, kind):
        r = self.r
        if kind == "firefox":
            return FIREFOX.format(os=r.choice(OSES), v=r.randint(115, 126))
        if kind == "chrome":
            return CHROME.format(os=r.choice(OSES), v=r.randint(118, 125))
        if kind == "safari":
            return SAFARI.format(v=r.randint(0, 4))
        if kind == "mobile":
            return MOBILE.format(v=r.randint(0, 4))
        if kind == "bot":
            return r.choice(BOTS)
        return r.choice(TOOLS)

    def cookie(self):
        r = self.r
        crumbs = [f"session={self.token(r.randint(24, 64))}"]
        optional = [
            lambda: f"theme={r.choice(['dark', 'light', 'auto'])}",
            lambda: f"_ga=GA1.1.{r.randint(10**8, 10**10)}.{r.randint(1700000000, 1715000000)}",
            lambda: f"csrftoken={self.token(32)}",
            lambda: f"cart={self.uuid()}",
            lambda: f"locale={r.choice(['en-US', 'de-DE', 'fr-FR', 'ja-JP'])}",
            lambda: f"consent=v2:{r.choice(['necessary', 'necessary,statistics', 'all'])}",
            lambda: f"ab_test={r.choice(['control', 'variant-a', 'variant-b'])}",
        ]
        r.shuffle(optional)
        crumbs += [make() for make in optional[: r.randint(0, len(optional))]]
        return "; ".join(crumbs)

    def body(self, kind):
        r = self.r
        if kind == "form":
            pairs = [f"{r.choice(QUERY_KEYS)}={self.token(r.randint(1, 16))}" for _ in range(r.randint(1, 6))]
            return "&".join(pairs)
        items = ", ".join(f'"{self.token(r.randint(3, 10))}": {r.randint(0, 99999)}' for _ in range(r.randint(1, 8)))
        return "{" + items + "}"

    def request(self):
        r = self.r
        method = r.choices(["GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"],
                           weights=[66, 13, 5, 5, 4, 4, 3])[0]
        client = r.choices(["firefox", "chrome", "safari", "mobile", "tool", "bot", "proxy"],
                           weights=[20, 28, 8, 10, 20, 8, 6])[0]
        version = "HTTP/1.0" if r.random() < 0.04 else "HTTP/1.1"
        host = r.choice(HOSTS)
        target = self.path()
        if client == "proxy" and method == "GET":
            target = f"http://{host}{target}"  # absolute-form, as sent to a forward proxy
        if method == "OPTIONS" and r.random() < 0.3:
            target = "*"

        fields = [("Host", host)]
        browser = client in ("firefox", "chrome", "safari", "mobile")
        fields.append(("User-Agent", self.user_agent(client)))
        if browser:
            if method == "GET" and r.random() < 0.6:
                fields.append(("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"))
                fields += [("Sec-Fetch-Dest", "document"), ("Sec-Fetch-Mode", "navigate")]
            else:
                fields.append(("Accept", r.choice(["application/json", "*/*", "image/avif,image/webp,*/*"])))
                fields += [("Sec-Fetch-Dest", "empty"), ("Sec-Fetch-Mode", "cors")]
            fields.append(("Accept-Language", r.choice(LANGUAGES)))
            fields.append(("Accept-Encoding", r.choice(["gzip, deflate, br", "gzip, deflate, br, zstd"])))
            if r.random() < 0.7:
                fields.append(("Referer", f"https://{host.split(':')[0]}{self.path()}"))
            if r.random() < 0.8:
                fields.append(("Cookie", self.cookie()))
            if client == "chrome":
                fields.append(("sec-ch-ua", f'"Chromium";v="{r.randint(118, 125)}", "Not-A.Brand";v="99"'))
                fields.append(("sec-ch-ua-platform", r.choice(['"Windows"', '"Linux"', '"macOS"'])))
        elif client in ("tool", "proxy"):
            fields.append(("Accept", r.choice(["*/*", "application/json", "application/vnd.api+json"])))
            if r.random() < 0.5:
                fields.append(("Authorization", f"Bearer {self.token(r.randint(32, 180))}"))
            if r.random() < 0.4:
                fields.append(("X-Request-ID", self.uuid()))
        else:
            fields.append(("Accept", "*/*"))
        if client == "proxy" or r.random() < 0.15:
            fields.append(("X-Forwarded-For", ", ".join(
                f"{r.randint(1, 223)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"
                for _ in range(r.randint(1, 3)))))
            fields.append(("X-Forwarded-Proto", "https"))
        if method in ("GET", "HEAD") and r.random() < 0.2:
            fields.append(("If-None-Match", f'"{self.hexstr(r.choice([16, 32, 40]))}"'))
        if method in ("GET", "HEAD") and r.random() < 0.1:
            fields.append(("If-Modified-Since", "Wed, 01 May 2024 08:%02d:%02d GMT" % (r.randint(0, 59), r.randint(0, 59))))
        if r.random() < 0.1:
            fields.append(("Cache-Control", r.choice(["no-cache", "max-age=0"])))
        if version == "HTTP/1.0" and r.random() < 0.5:
            fields.append(("Connection", "keep-alive"))
        elif r.random() < 0.3:
            fields.append(("Connection", r.choice(["keep-alive", "close"])))

        body = ""
        if method in ("POST", "PUT", "PATCH"):
            kind = r.choice(["json", "json", "form"])
            body = self.body(kind)
            content_type = "application/json" if kind == "json" else "application/x-www-form-urlencoded"
            fields.append(("Content-Type", content_type))
            if version == "HTTP/1.1" and r.random() < 0.1:
                fields.append(("Transfer-Encoding", "chunked"))
                body = f"{len(body):x}{CRLF}{body}{CRLF}0{CRLF}{CRLF}"
            else:
                fields.append(("Content-Length", str(len(body))))
        # Field order varies between clients; Host stays first as browsers send it.
        rest = fields[1:]
        if not browser:
            r.shuffle(rest)
        return head(f"{method} {target} {version}", [fields[0]] + rest), body


def rotating(count):
    gen = Generator(SEED)
    seen = set()
    messages = []
    while len(messages) < count:
        request_head, body = gen.request()
        if request_head in seen:
            continue
        seen.add(request_head)
        messages.append((request_head, body))
    data = "".join(h + b for h, b in messages)
    index = "".join(f"{len(h)} {len(h) + len(b)}\n" for h, b in messages)
    return data, index


def pipelined(count):
    gen = Generator(SEED + 1)
    r = gen.r
    cookie = gen.cookie()
    ua = gen.user_agent("firefox")
    kinds = [
        ("css", "text/css,*/*;q=0.1", "style"),
        ("js", "*/*", "script"),
        ("png", "image/avif,image/webp,*/*", "image"),
        ("jpg", "image/avif,image/webp,*/*", "image"),
        ("woff2", "application/font-woff2;q=1.0,application/font-woff;q=0.9,*/*;q=0.8", "font"),
        ("svg", "image/avif,image/webp,*/*", "image"),
    ]
    out = []
    for i in range(count):
        ext, accept, dest = r.choice(kinds)
        name = f"{gen.token(r.randint(4, 14))}.{gen.hexstr(8)}.{ext}"
        out.append(head(
            f"GET /static/{dest}s/{name} HTTP/1.1",
            [
                ("Host", "www.example.com"),
                ("User-Agent", ua),
                ("Accept", accept),
                ("Accept-Language", "en-US,en;q=0.5"),
                ("Accept-Encoding", "gzip, deflate, br"),
                ("Referer", "https://www.example.com/articles/2024/05/parsing-http-in-practice"),
                ("Connection", "keep-alive"),
                ("Cookie", cookie),
                ("Sec-Fetch-Dest", dest),
                ("Sec-Fetch-Mode", "no-cors"),
                ("Sec-Fetch-Site", "same-origin"),
            ],
        ))
    return "".join(out)


def chunked(body_size, chunk_sizes, seed):
    gen = Generator(seed)
    r = gen.r
    line_words = "GET POST 200 404 302 /api/v1/items /static/app.js user=42 latency_ms bytes ok".split()
    text = []
    length = 0
    while length < body_size:
        line = f"{r.randint(1700000000, 1715000000)} " + " ".join(r.choice(line_words) for _ in range(r.randint(4, 12))) + "\n"
        text.append(line)
        length += len(line)
    body = "".join(text)[:body_size]
    request_head = head("POST /logs/ingest HTTP/1.1", [
        ("Host", "logs.example.com"),
        ("User-Agent", "fluent-bit/3.0.3"),
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Transfer-Encoding", "chunked"),
    ])
    out = [request_head]
    pos = 0
    while pos < len(body):
        size = min(chunk_sizes(r), len(body) - pos)
        out.append(f"{size:x}{CRLF}{body[pos:pos + size]}{CRLF}")
        pos += size
    out.append(f"0{CRLF}{CRLF}")
    return "".join(out)


# --- responses ----------------------------------------------------------------------------------

DATE = "Wed, 01 May 2024 09:14:27 GMT"

RESP_SMALL = head(
    "HTTP/1.1 304 Not Modified",
    [
        ("Date", DATE),
        ("Server", "cloudflare"),
        ("Connection", "keep-alive"),
        ("ETag", '"6633f1c2-8a3f"'),
        ("Cache-Control", "public, max-age=31536000, immutable"),
        ("Age", "81236"),
        ("CF-Cache-Status", "HIT"),
        ("Vary", "Accept-Encoding"),
        ("CF-RAY", "87d1c2a9fb3e5a1c-FRA"),
    ],
)

RESP_TYPICAL = head(
    "HTTP/1.1 200 OK",
    [
        ("Date", DATE),
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Length", "48213"),
        ("Connection", "keep-alive"),
        ("Server", "nginx/1.24.0"),
        ("Cache-Control", "public, max-age=300, s-maxage=3600, stale-while-revalidate=60"),
        ("ETag", 'W/"bc55-18f2a4c1d38"'),
        ("Last-Modified", "Wed, 01 May 2024 08:02:11 GMT"),
        ("Vary", "Accept-Encoding, Cookie"),
        ("Content-Encoding", "gzip"),
        ("Strict-Transport-Security", "max-age=63072000; includeSubDomains; preload"),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "SAMEORIGIN"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
        ("Accept-Ranges", "bytes"),
        ("Age", "1742"),
        ("Via", "1.1 varnish, 1.1 2a5f0c1b9e3d.cloudfront.net (CloudFront)"),
        ("X-Cache", "Hit from cloudfront"),
        ("X-Amz-Cf-Pop", "FRA56-P5"),
        ("X-Amz-Cf-Id", "kE3mP0o9Qn2wHj5r8Yb1Tg6uVx4zLc7aSd0fKi3eNq9pWm2hRt5yUo=="),
        ("X-Served-By", "cache-fra-eddf8230146-FRA"),
        ("X-Request-ID", "5f0c9a7e-3b2d-4e1f-9a8c-7d6e5f4a3b2c"),
    ],
)

CSP = (
    "default-src 'self'; script-src 'self' 'nonce-r4nd0mN0nc3Zq8w' https://www.googletagmanager.com "
    "https://js.stripe.com https://cdn.example-static.net; style-src 'self' 'unsafe-inline' "
    "https://fonts.googleapis.com; img-src 'self' data: blob: https://*.example-static.net "
    "https://www.google-analytics.com; font-src 'self' https://fonts.gstatic.com; connect-src 'self' "
    "https://api.example.com wss://realtime.example.com https://www.google-analytics.com; "
    "frame-src https://js.stripe.com https://hooks.stripe.com; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'; object-src 'none'; upgrade-insecure-requests; "
    "report-uri https://csp.example.com/report; report-to csp-endpoint"
)


def resp_large():
    gen = Generator(SEED + 4)
    cookie_tail = "; Path=/; Secure; HttpOnly; SameSite=Lax"
    cookies = [
        f"__Host-session={gen.token(96)}; Path=/; Secure; HttpOnly; SameSite=Strict",
        f"csrftoken={gen.token(64)}; Max-Age=31449600; Path=/; Secure; SameSite=Lax",
        f"user_id={gen.r.randint(10**7, 10**8)}; Max-Age=2592000{cookie_tail}",
        f"cart={gen.uuid()}; Max-Age=1209600{cookie_tail}",
        "locale=en-GB; Max-Age=31536000; Path=/; Secure; SameSite=Lax",
        "currency=GBP; Max-Age=31536000; Path=/; Secure; SameSite=Lax",
        f"ab_checkout=variant-b; Expires=Thu, 30 May 2024 09:14:27 GMT{cookie_tail}",
        f"_ga=GA1.1.{gen.r.randint(10**8, 10**10)}.1714554867; Domain=.example.com; "
        "Expires=Fri, 30 May 2025 09:14:27 GMT; Path=/; Secure; SameSite=Lax",
        f"_ga_X9Y8Z7W6V5=GS1.1.1714554867.12.1.1714554999.0.0.0; Domain=.example.com; "
        "Expires=Fri, 30 May 2025 09:14:27 GMT; Path=/; Secure; SameSite=Lax",
        f"consent=v2:necessary,statistics; Max-Age=15552000{cookie_tail}",
        f"recently_viewed=sku-10482%2Csku-88213%2Csku-55120; Max-Age=604800{cookie_tail}",
        f"__cf_bm={gen.token(43)}-1714554867-1.0.1.1-{gen.token(86)}; path=/; "
        "expires=Wed, 01-May-24 09:44:27 GMT; domain=.example.com; HttpOnly; Secure; SameSite=None",
    ]
    fields = [
        ("Date", DATE),
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Length", "131072"),
        ("Connection", "keep-alive"),
        ("Server", "cloudflare"),
        ("Cache-Control", "private, no-cache, no-store, max-age=0, must-revalidate"),
        ("Pragma", "no-cache"),
        ("Expires", "Thu, 01 Jan 1970 00:00:00 GMT"),
        ("Vary", "Accept-Encoding, Cookie, Accept-Language"),
    ]
    fields += [("Set-Cookie", c) for c in cookies]
    fields += [
        ("Content-Security-Policy", CSP),
        ("Strict-Transport-Security", "max-age=63072000; includeSubDomains; preload"),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
        ("Permissions-Policy", "accelerometer=(), camera=(), geolocation=(self), gyroscope=(), "
         "magnetometer=(), microphone=(), payment=(self \"https://js.stripe.com\"), usb=()"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Cross-Origin-Resource-Policy", "same-site"),
        ("Report-To", '{"group":"csp-endpoint","max_age":10886400,"endpoints":'
         '[{"url":"https://csp.example.com/report"}],"include_subdomains":true}'),
        ("NEL", '{"success_fraction":0,"report_to":"csp-endpoint","max_age":604800}'),
        ("Link", "</static/css/app.3f9a1c.css>; rel=preload; as=style, "
         "</static/js/runtime.8b2e4d.js>; rel=preload; as=script, "
         "<https://fonts.gstatic.com>; rel=preconnect; crossorigin"),
        ("Server-Timing", "cfCacheStatus;desc=\"DYNAMIC\", origin;dur=87, edge;dur=4"),
        ("X-Request-ID", gen.uuid()),
        ("CF-Cache-Status", "DYNAMIC"),
        ("CF-RAY", "87d1c2b0aa4d5a1c-FRA"),
        ("alt-svc", 'h3=":443"; ma=86400'),
    ]
    return head("HTTP/1.1 200 OK", fields)


def resp_pipelined(count):
    """Responses to a page's asset requests on one keep-alive connection: what a browser, a proxy
    or a load balancer reads back to back. Bodies are short stand-ins (their bytes are skipped by
    Content-Length, not parsed); a conditional request gets a 304 with no body."""
    gen = Generator(SEED + 5)
    r = gen.r
    kinds = [
        ("text/css; charset=utf-8", "public, max-age=31536000, immutable"),
        ("application/javascript; charset=utf-8", "public, max-age=31536000, immutable"),
        ("image/webp", "public, max-age=2592000"),
        ("image/svg+xml", "public, max-age=2592000"),
        ("font/woff2", "public, max-age=31536000, immutable"),
        ("application/json", "private, no-cache"),
    ]
    out = []
    for i in range(count):
        content_type, cache_control = r.choice(kinds)
        etag = f'"{gen.hexstr(8)}-{gen.hexstr(4)}"'
        age = str(r.randint(0, 86400))
        if r.random() < 0.35:
            out.append(head("HTTP/1.1 304 Not Modified", [
                ("Date", DATE),
                ("Server", "nginx/1.24.0"),
                ("Connection", "keep-alive"),
                ("ETag", etag),
                ("Cache-Control", cache_control),
                ("Age", age),
                ("X-Cache", "HIT"),
            ]))
            continue
        body = gen.token(r.randint(16, 256))
        out.append(head("HTTP/1.1 200 OK", [
            ("Date", DATE),
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Connection", "keep-alive"),
            ("Server", "nginx/1.24.0"),
            ("Last-Modified", "Tue, 30 Apr 2024 %02d:%02d:%02d GMT" % (r.randint(0, 23), r.randint(0, 59), r.randint(0, 59))),
            ("ETag", etag),
            ("Cache-Control", cache_control),
            ("Vary", "Accept-Encoding"),
            ("Access-Control-Allow-Origin", "*"),
            ("X-Content-Type-Options", "nosniff"),
            ("Age", age),
            ("X-Cache", r.choice(["HIT", "HIT", "MISS"])),
            ("Accept-Ranges", "bytes"),
        ]) + body)
    return "".join(out)


def main():
    write("tiny.http", TINY)
    write("typical.http", TYPICAL)
    write("large.http", LARGE)
    data, index = rotating(1024)
    write("rotating.http", data)
    write("rotating.index", index)
    write("pipelined.http", pipelined(256))
    write("chunked-small.http", chunked(64 * 1024, lambda r: r.randint(1, 512), SEED + 2))
    write("chunked-16k.http", chunked(512 * 1024, lambda r: 16 * 1024, SEED + 3))
    write("resp-small.http", RESP_SMALL)
    write("resp-typical.http", RESP_TYPICAL)
    write("resp-large.http", resp_large())
    write("resp-pipelined.http", resp_pipelined(128))


if __name__ == "__main__":
    main()
