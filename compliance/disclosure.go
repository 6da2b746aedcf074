package compliance

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// The FTC's Guides Concerning the Use of Endorsements and Testimonials in
// Advertising (16 CFR Part 255, §255.5) require a material connection
// between an endorser and the seller, such as an affiliate commission, to be
// disclosed clearly and conspicuously. In practice (FTC, "Disclosures 101
// for Social Media Influencers"; the Guides' FAQ) that means: unambiguous
// words (#ad, "advertisement", "sponsored", "paid partnership", "I earn a
// commission"), placed where they are seen before the reader reaches the
// endorsement or the link, not buried after links, at the end, or among a
// pile of hashtags; and not cryptic abbreviations such as #sp, #spon,
// #collab, #thanks or #ambassador.

// disclosureTopWindow is how far into the content (in characters) a
// disclosure may start and still count as near the top. Social platforms
// truncate captions at roughly this length behind a "more" link.
const disclosureTopWindow = 200

// maxDisclosureInput bounds the bytes examined (64 KiB): a disclosure must
// be within the first 200 characters to pass, so nothing
// beyond the prefix can turn a verdict into a pass; it only keeps the
// checker fast on hostile input.
const maxDisclosureInput = 64 << 10

// DisclosureResult is the verdict on one piece of content.
type DisclosureResult struct {
	Pass bool
	// Reason explains a failure (or names what was found, on a pass).
	Reason string
	// Phrase is the disclosure found, lower-cased ("" if none).
	Phrase string
	// Offset is where Phrase starts, in characters (-1 if none).
	Offset int
}

var (
	clearDisclosure = regexp.MustCompile(`(?:^|[\s(\[{"'.,;:!?>*_-])(#(?:ad|ads|advert|advertisement|sponsored|paidpartnership|paidpromotion|affiliatelink|affiliatelinks)\b)` +
		`|\b(ad:|advertisement\b|sponsored\b|paid (?:partnership|partner|promotion|post|ad\b|advertisement|endorsement)` +
		`|affiliate links?\b|(?:i|we) (?:may |might |will |do |also )?(?:earn|receive|get|make) (?:a |an |small |a small )?(?:commissions?|compensation|money)\b` +
		`|(?:i|we) (?:was|were|am|are|got|get) paid\b|earns? (?:a commission )?from qualifying purchases)`)
	ambiguousDisclosure = regexp.MustCompile(`(?:^|[\s(\[{"'.,;:!?>])(#(?:sp|spon|collab|thanks|thx|ambassador|partner|aff|affiliate|gifted)\b)`)
	negated             = regexp.MustCompile(`(?:\bnot|\bno|n't|\bnon-?|\bnever)\s*(?:an?\s+)?$`)
	htmlComment         = regexp.MustCompile(`(?s)<!--.*?-->`)
	linkStart           = regexp.MustCompile(`https?://|\bwww\.|<a\s|\]\(`)
)

// CheckDisclosure judges whether content (plain text, Markdown or simple
// HTML) discloses a material connection clearly and conspicuously: an
// unambiguous phrase, not negated, within the first 200 characters (where
// social platforms truncate captions behind a "more" link) and before the
// first link. HTML comments do not count (a reader never sees them). It is
// deterministic and never panics on any input.
func CheckDisclosure(content string) DisclosureResult {
	if len(content) > maxDisclosureInput {
		content = content[:maxDisclosureInput]
	}
	if !utf8.ValidString(content) {
		content = strings.ToValidUTF8(content, "\uFFFD")
	}
	text := strings.ToLower(htmlComment.ReplaceAllString(content, " "))
	firstLink := -1
	if loc := linkStart.FindStringIndex(text); loc != nil {
		firstLink = loc[0]
	}

	phrase, at := "", -1
	// Leftmost match first, stopping at the first that counts: the common
	// case (a disclosure up front) never scans the rest of the content.
	for pos := 0; pos < len(text); {
		m := clearDisclosure.FindStringSubmatchIndex(text[pos:])
		if m == nil {
			break
		}
		base := pos
		hashtag := m[2] >= 0
		start, end := m[2], m[3]
		if !hashtag {
			start, end = m[4], m[5]
		}
		start, end = start+base, end+base
		pos = end
		// "^" and "\b" treat the start of text[base:] as a boundary; check
		// what really precedes a match found there.
		if start == base && base > 0 && !boundaryBefore(text[base-1], hashtag) {
			continue
		}
		if negated.MatchString(text[max(0, start-24):start]) { // bounded: no quadratic scans
			continue
		}
		if inLinkTarget(text, start) {
			continue
		}
		phrase, at = text[start:end], start
		break
	}
	if at < 0 {
		if m := ambiguousDisclosure.FindStringSubmatch(text); m != nil {
			return DisclosureResult{Reason: fmt.Sprintf("ambiguous disclosure %q: readers may not understand it as a paid relationship", m[1]), Offset: -1}
		}
		return DisclosureResult{Reason: "no disclosure of the material connection", Offset: -1}
	}
	chars := utf8.RuneCountInString(text[:at])
	res := DisclosureResult{Phrase: phrase, Offset: chars}
	switch {
	case firstLink >= 0 && at > firstLink:
		res.Reason = fmt.Sprintf("disclosure %q appears only after the first link", phrase)
	case chars > disclosureTopWindow:
		res.Reason = fmt.Sprintf("disclosure %q is buried %d characters in (must be within the first %d)", phrase, chars, disclosureTopWindow)
	default:
		res.Pass = true
		res.Reason = fmt.Sprintf("clear disclosure %q near the top", phrase)
	}
	return res
}

// boundaryBefore reports whether byte c may precede a disclosure: a
// delimiter for a hashtag, a non-word byte for a phrase.
func boundaryBefore(c byte, hashtag bool) bool {
	if hashtag {
		return strings.IndexByte(" \t\n\r\f\v([{\"'.,;:!?>*_-", c) >= 0
	}
	return !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_')
}

// inLinkTarget reports whether offset i sits inside a URL or Markdown link
// target, where a reader never sees it as a disclosure ("...?tag=#ad").
func inLinkTarget(text string, i int) bool {
	from := max(0, i-2048) // bounded look-back keeps the checker linear
	word := text[from+strings.LastIndexAny(text[from:i], " \t\n")+1 : i]
	return strings.Contains(word, "://") || strings.Contains(word, "](") || strings.Contains(word, "href=")
}

// disclosureJudge builds an Audit.Judge from a host function that returns
// the member's content published during the period (posts, pages,
// captions). Every item must pass; the verdict's reason names the first
// failing item. A member with no content in the period passes.
func disclosureJudge(content func(ctx context.Context, org, member string, p Period) ([]string, error)) func(ctx context.Context, org, member string, p Period) (Verdict, error) {
	return func(ctx context.Context, org, member string, p Period) (Verdict, error) {
		items, err := content(ctx, org, member, p)
		if err != nil {
			return Verdict{}, err
		}
		failed := 0
		first := ""
		for i, it := range items {
			if r := CheckDisclosure(it); !r.Pass {
				failed++
				if first == "" {
					first = fmt.Sprintf("item %d: %s", i+1, r.Reason)
				}
			}
		}
		if failed > 0 {
			return Verdict{Pass: false, Reason: fmt.Sprintf("%d of %d items lack a clear disclosure; %s", failed, len(items), first)}, nil
		}
		return Verdict{Pass: true, Reason: fmt.Sprintf("%d items disclosed clearly", len(items))}, nil
	}
}

// FTCDisclosureAudit is the weekly affiliate disclosure audit: the first
// failing week is a notice, a second consecutive one holds commissions, a
// third terminates (final). Four clean weeks in a row step a member down.
// The host supplies the population, the content and the action hook.
func FTCDisclosureAudit(
	population func(ctx context.Context, org string, p Period) ([]string, error),
	content func(ctx context.Context, org, member string, p Period) ([]string, error),
	action func(ctx context.Context, t Transition) error,
) Audit {
	return Audit{
		Name:            "ftc-disclosure",
		Ladder:          []Step{{Name: "notice"}, {Name: "hold-commissions"}, {Name: "terminate", Final: true}},
		EscalateAfter:   1,
		DeescalateAfter: 4,
		TargetType:      "affiliate",
		Population:      population,
		Judge:           disclosureJudge(content),
		Action:          action,
	}
}
