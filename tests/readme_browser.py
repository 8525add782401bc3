#!/usr/bin/env python3
"""Plays the person at the browser in the README's authorization-code quick start.

Usage: readme_browser.py AUTHORIZE_URL USERNAME PASSWORD

Opens the authorize URL, fills in gatehouse's login form, presses Allow on the consent page,
and prints the `code` from the redirect back to the app (which is never fetched: nothing
listens there). Only the standard library, like the README's own commands.
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


def main():
    authorize, username, password = sys.argv[1:4]
    origin = "{0.scheme}://{0.netloc}".format(urllib.parse.urlsplit(authorize))
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)

    def visit(url, form=None):
        """Follows gatehouse's own redirects; stops at one that leaves for the app."""
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        while True:
            try:
                with browser.open(urllib.request.Request(url, data=data)) as page:
                    return None, page.read().decode()
            except urllib.error.HTTPError as e:
                if e.code not in (301, 302, 303, 307):
                    raise SystemExit(f"{url}: HTTP {e.code}: {e.read().decode()[:500]}")
                url = urllib.parse.urljoin(url, e.headers["Location"])
                if not url.startswith(origin + "/"):
                    return url, None
                data = None

    def form_with(page, name):
        parser = Forms()
        parser.feed(page)
        for form in parser.forms:
            if name in form["fields"] or any(b[0] == name for b in form["buttons"]):
                return form
        raise SystemExit(f"no form with {name!r} on the page:\n{page[:2000]}")

    _, login = visit(authorize)
    form = form_with(login, "password")
    fields = dict(form["fields"], username=username, password=password)
    left, consent = visit(urllib.parse.urljoin(authorize, form["action"]), fields)
    if left is None:
        form = form_with(consent, "decision")
        fields = dict(form["fields"], decision="allow")
        left, page = visit(urllib.parse.urljoin(authorize, form["action"]), fields)
        if left is None:
            raise SystemExit(f"the consent form did not send the browser back:\n{page[:2000]}")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(left).query)
    if "code" not in query:
        raise SystemExit(f"no code in the redirect: {left}")
    print(query["code"][0])


if __name__ == "__main__":
    main()
