// Package browser holds the Status page's browser test: headless Chromium from the system (Debian's chromium, which
// `make tools` installs) driven with chromedp loads the page the real handler serves under the host simulator, over
// a populated archive, and checks it against the JSON the same function returns. The package has no code outside
// its tests: nothing the handler links depends on chromedp.
package browser
