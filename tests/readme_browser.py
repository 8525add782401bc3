#!/usr/bin/env python3
"""Plays the person at the browser in the README's authorization-code quick starts.

Usage: readme_browser.py AUTHORIZE_URL USERNAME PASSWORD
       readme_browser.py --redirect AUTHORIZE_URL USERNAME PASSWORD
       readme_browser.py --app APP_URL USERNAME PASSWORD

Opens the authorize URL, fills in gatehouse's login form, presses Allow on the consent page,
and prints the `code` from the redirect back to the app (which is never fetched: nothing
listens there), or with --redirect the whole address it was sent to. With --app, starts at the example app's sign-in link instead, follows the
redirects back to the app, checks that it shows the verified id_token's claims for USERNAME,
then signs out through the app and checks it lands on the app's signed-out page. Only the
standard library, like the README's own commands.
"""

import html.parser
import http.cookiejar
import sys
import urllib.error
import urllib.parse
import urllib.request


class Forms(html.parser.HTMLParser):
    """Every <form>: its action, its inputs, and its submit buttons."""

    def __init__(self):
        super().__init__()
        self.forms = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action", ""), "fields": {}, "buttons": []})
        elif self.forms and tag == "input" and attrs.get("name"):
            self.forms[-1]["fields"][attrs["name"]] = attrs.get("value") or ""
        elif self.forms and tag == "button" and attrs.get("name"):
            self.forms[-1]["buttons"].append((attrs["name"], attrs.get("value", "")))


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """Keeps cookies; follows redirects, or with `stay_on` stops at one that leaves it."""

    def __init__(self, stay_on=None):
        self.stay_on = stay_on
        jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)

    def visit(self, url, form=None):
        """Answers (where it ended, the page there, or None when it left `stay_on`)."""
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        while True:
            try:
                with self.opener.open(urllib.request.Request(url, data=data)) as page:
                    return url, page.read().decode()
            except urllib.error.HTTPError as e:
                if e.code not in (301, 302, 303, 307):
                    raise SystemExit(f"{url}: HTTP {e.code}: {e.read().decode()[:500]}")
                url = urllib.parse.urljoin(url, e.headers["Location"])
                if self.stay_on and not url.startswith(self.stay_on + "/"):
                    return url, None
                data = None

    def submit(self, here, page, name, **values):
        """Fills in and sends the form of `page` (at `here`) that has the field `name`."""
        parser = Forms()
        parser.feed(page)
        for form in parser.forms:
            if name in form["fields"] or any(b[0] == name for b in form["buttons"]):
                return self.visit(urllib.parse.urljoin(here, form["action"]), dict(form["fields"], **values))
        raise SystemExit(f"no form with {name!r} on the page:\n{page[:2000]}")


def code_from_redirect(authorize, username, password, whole=False):
    browser = Browser(stay_on="{0.scheme}://{0.netloc}".format(urllib.parse.urlsplit(authorize)))
    here, login = browser.visit(authorize)
    left, consent = browser.submit(here, login, "password", username=username, password=password)
    if consent is not None:
        left, page = browser.submit(left, consent, "decision", decision="allow")
        if page is not None:
            raise SystemExit(f"the consent form did not send the browser back:\n{page[:2000]}")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(left).query)
    if "code" not in query:
        raise SystemExit(f"no code in the redirect: {left}")
    print(left if whole else query["code"][0])


def through_the_app(app, username, password):
    browser = Browser()
    here, login = browser.visit(app + "/login")
    here, page = browser.submit(here, login, "password", username=username, password=password)
    if 'name="decision"' in page:
        here, page = browser.submit(here, page, "decision", decision="allow")
    if not here.startswith(app + "/callback") or 'id="id-token"' not in page:
        raise SystemExit(f"not signed in to the app at {here}:\n{page[:2000]}")
    if f'&quot;preferred_username&quot;: &quot;{username}&quot;' not in page:
        raise SystemExit(f"the app does not show {username}'s claims:\n{page[:2000]}")
    here, page = browser.visit(app + "/logout")
    if not here.startswith(app + "/signed-out") or 'id="signed-out"' not in page:
        raise SystemExit(f"signing out ended at {here}:\n{page[:2000]}")
    print(f"signed in to the app as {username} and out again")


if __name__ == "__main__":
    if sys.argv[1] == "--app":
        through_the_app(*sys.argv[2:5])
    elif sys.argv[1] == "--redirect":
        code_from_redirect(*sys.argv[2:5], whole=True)
    else:
        code_from_redirect(*sys.argv[1:4])
