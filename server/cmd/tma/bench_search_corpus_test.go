package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tma-portal/tma/server/tma"
)

// The generated corpus of BenchmarkSearch: 100,000 items in 2,000 cases of
// 5 tenants, in German and English, from a fixed seed.
const (
	benchSearchTenants    = 5
	benchSearchCases      = 2000 // 400 a tenant
	benchSearchItems      = 100_000
	benchSearchWiki       = 100 // wiki pages a tenant
	benchSearchTriage     = 300 // reports of a tenant not (yet) part of a case
	benchSearchQueries    = 300
	benchSearchExpertCase = 25
)

// Word lists of threat management, from which sentences are built: a
// subject, a verb, an object and often a place, with the odd case
// reference, time or file number between them.
var (
	benchFirstNames = strings.Fields("Jürgen Günther Björn Sören Jörg Käthe Bärbel Anna Lukas Sophie Özlem Müge René Zoë Ines Dragan Michael Sarah Thomas " +
		"Büşra Łukasz Ömer Hülya Jens Ute Heike Klaus Grete Fritz Emma John Emily David Olivia James Mia Noah Lea Paul Marie")
	benchLastNames = strings.Fields("Müller Schröder Köhler Bäcker Weiß Groß Fuß Jäger Krüger Özdemir Schäfer Hoffmann Wagner Becker Zimmermann " +
		"Meißner Vögele Günther Smith Brown Taylor Wilson Jörgensen Löffler Hübner Kühn Böhm Jung Schmitt Nowak Yılmaz Kaya Dönmez Strauß Weißmann")

	benchDE = benchLang{
		roles: []string{"der Mitarbeiter", "die Mitarbeiterin", "die Kollegin", "der Kollege", "der Vorgesetzte", "ein Nachbar", "die Polizei",
			"der Sicherheitsdienst", "die Personalabteilung", "der Betriebsrat", "die Geschäftsführung", "der Pförtner", "eine Zeugin", "der Ex-Partner",
			"die Rechtsabteilung", "der Krisenstab", "die Psychologin", "ein Kunde"},
		verbs: []string{"drohte", "bedrohte", "meldete", "schrieb", "beobachtete", "beleidigte", "schickte", "erwähnte", "verfolgte", "beschrieb",
			"dokumentierte", "erhielt", "prüfte", "empfahl", "kündigte", "fotografierte", "verweigerte", "bestätigte", "schilderte", "veranlasste"},
		objects: []string{"eine Drohung", "mehrere Drohungen", "einen Drohbrief", "einen Drohanruf", "ein Hausverbot", "eine E-Mail", "zahlreiche E-Mails",
			"eine Abmahnung", "die Kündigung", "eine Gefährdungseinschätzung", "ein Messer", "eine Waffe", "Beleidigungen", "den Vorfall",
			"das Gespräch", "eine Anzeige", "ein Kontaktverbot", "die Schutzmaßnahmen", "Warnsignale", "die Fallkonferenz", "eine Nachricht",
			"Fotos", "den Zugang", "eine Bedrohung", "die Eskalation", "seine Kränkung", "Rachegedanken", "eine Belästigung", "Stalking",
			"die Videoüberwachung", "den Ausweis", "ein Protokoll", "die Beratung", "die Häuser der Nachbarn"},
		places: []string{"im Büro", "auf dem Parkplatz", "vor dem Gebäude", "in der Kantine", "am Empfang", "nach dem Gespräch", "wegen der Kündigung",
			"gegen den Vorgesetzten", "über die Straße", "im Treppenhaus", "bei der Polizei", "in der Nachtschicht", "am Wochenende", "vor Gericht",
			"in der Tiefgarage", "an der Pforte", "im Besprechungsraum", "auf der Hauptstraße", "im Café gegenüber", "per WhatsApp"},
		adverbs:   []string{"erneut", "wiederholt", "nachts", "anonym", "offenbar", "sehr aggressiv", "verängstigt", "gestern", "mehrfach", "sofort", "heimlich"},
		mr:        "Herr",
		mrs:       "Frau",
		titleSeps: []string{"Drohung gegen", "Gespräch mit", "Hausverbot für", "Vorfall mit", "Gefährdungseinschätzung", "Protokoll Fallkonferenz", "Anzeige gegen", "Nachricht von"},
	}
	benchEN = benchLang{
		roles: []string{"the employee", "a colleague", "the supervisor", "his manager", "her manager", "the neighbour", "the police", "security",
			"HR", "the legal team", "a witness", "the former partner", "the works council", "the receptionist", "the psychologist", "a customer"},
		verbs: []string{"threatened", "reported", "sent", "described", "received", "observed", "mentioned", "harassed", "followed", "documented",
			"recommended", "reviewed", "is threatening", "warned", "photographed", "refused", "confirmed", "escalated", "ignored", "requested"},
		objects: []string{"a threat", "several threats", "a threatening letter", "an email", "multiple e-mails", "a contact ban", "a written warning",
			"the dismissal", "a risk assessment", "a knife", "a weapon", "insults", "the incident", "the meeting", "a police report", "a safety plan",
			"warning signs", "the case conference", "a message", "photos", "building access", "his grievance", "revenge fantasies", "harassment",
			"stalking", "the CCTV footage", "the badge", "the minutes", "counselling", "the houses next door"},
		places: []string{"in the office", "in the parking lot", "outside the building", "in the canteen", "at reception", "after the meeting",
			"because of the dismissal", "against his supervisor", "across the street", "in the stairwell", "at the police station",
			"during the night shift", "over the weekend", "in court", "in the underground car park", "at the gate", "in the meeting room", "via WhatsApp"},
		adverbs:   []string{"again", "repeatedly", "at night", "anonymously", "apparently", "very aggressively", "frightened", "yesterday", "twice", "immediately", "secretly"},
		mr:        "Mr",
		mrs:       "Ms",
		titleSeps: []string{"Threat against", "Meeting with", "Contact ban for", "Incident with", "Risk assessment", "Case conference minutes", "Police report on", "Message from"},
	}
)

type benchLang struct {
	roles, verbs, objects, places, adverbs []string
	mr, mrs                                string
	titleSeps                              []string
}

// benchGen makes the corpus and the queries from one seeded generator.
type benchGen struct{ rng *rand.Rand }

func (g *benchGen) pick(xs []string) string { return xs[g.rng.IntN(len(xs))] }

func (g *benchGen) name() string { return g.pick(benchFirstNames) + " " + g.pick(benchLastNames) }

func (g *benchGen) lang() *benchLang {
	if g.rng.IntN(5) < 3 {
		return &benchDE
	}
	return &benchEN
}

func (g *benchGen) subject(l *benchLang) string {
	switch g.rng.IntN(4) {
	case 0:
		return g.name()
	case 1:
		if g.rng.IntN(2) == 0 {
			return l.mr + " " + g.pick(benchLastNames)
		}
		return l.mrs + " " + g.pick(benchLastNames)
	}
	return g.pick(l.roles)
}

// sentence is one sentence of l, now and then with a number, a time or a
// file reference in it, as notes have.
func (g *benchGen) sentence(l *benchLang) string {
	parts := []string{g.subject(l), g.pick(l.verbs)}
	if g.rng.IntN(3) == 0 {
		parts = append(parts, g.pick(l.adverbs))
	}
	parts = append(parts, g.pick(l.objects))
	if g.rng.IntN(3) > 0 {
		parts = append(parts, g.pick(l.places))
	}
	switch g.rng.IntN(12) {
	case 0:
		parts = append(parts, fmt.Sprintf("(%02d:%02d)", 6+g.rng.IntN(16), g.rng.IntN(60)))
	case 1:
		parts = append(parts, fmt.Sprintf("Az. %d Js %d/%02d", 1+g.rng.IntN(90), 100+g.rng.IntN(9900), 20+g.rng.IntN(6)))
	case 2:
		parts = append(parts, fmt.Sprintf("TM-%d-%04d", 2020+g.rng.IntN(6), g.rng.IntN(10000)))
	}
	s := strings.Join(parts, " ")
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:] + "."
}

// text is about words words of sentences, mostly in one language.
func (g *benchGen) text(words int) string {
	l := g.lang()
	var b strings.Builder
	for n := 0; n < words; {
		if g.rng.IntN(10) == 0 { // the odd sentence in the other language
			if l == &benchDE {
				l = &benchEN
			} else {
				l = &benchDE
			}
		}
		s := g.sentence(l)
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s)
		n += strings.Count(s, " ") + 1
	}
	return b.String()
}

func (g *benchGen) title() string {
	l := g.lang()
	return g.pick(l.titleSeps) + " " + g.name()
}

// words is a length from min to max, skewed towards the short end.
func (g *benchGen) words(min, max int) int {
	f := g.rng.Float64()
	return min + int(f*f*float64(max-min))
}

// benchCorpus is the generated corpus with who may see what.
type benchCorpus struct {
	docs    []*tma.SearchDoc
	cases   map[string][]string // tenant → case ids
	tenants []string
	users   map[string][]string // tenant → user ids (for triage_hidden)
}

func benchUUID(rng *rand.Rand) string {
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", rng.Uint32(), rng.Uint32()&0xffff, rng.Uint32()&0xfff, rng.Uint32()&0xfff, rng.Uint64()&0xffffffffffff)
}

// benchGenerate makes the corpus: every case has its case item and about
// 48 items of case content (notes, actions, documents, reports; one note
// in ten restricted); every tenant has wiki pages with role grants and
// hidden roles, and reports in the intake, some hidden from named users.
func benchGenerate(seed uint64) *benchCorpus {
	g := &benchGen{rng: rand.New(rand.NewPCG(seed, 11))}
	c := &benchCorpus{cases: map[string][]string{}, users: map[string][]string{}}
	statuses := []tma.CaseStatus{tma.StatusNew, tma.StatusAssessing, tma.StatusDefusing, tma.StatusMonitoring, tma.StatusClosed}
	roles := []tma.Role{tma.RoleThreatManager, tma.RoleLegal, tma.RoleHR, tma.RoleCompliance, tma.RoleAuditor}
	start := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	date := func() time.Time { return start.Add(time.Duration(g.rng.IntN(5*365*24*60)) * time.Minute) }
	status := map[string]tma.CaseStatus{}
	n := 0
	add := func(d *tma.SearchDoc) {
		n++
		d.Key = fmt.Sprintf("%s:%d", d.Type, n)
		if d.Date.IsZero() {
			d.Date = date()
		}
		if d.CaseID != "" {
			d.CaseStatus = status[d.CaseID]
		}
		c.docs = append(c.docs, d)
	}
	for t := range benchSearchTenants {
		tid := benchUUID(g.rng)
		c.tenants = append(c.tenants, tid)
		for range 50 {
			c.users[tid] = append(c.users[tid], benchUUID(g.rng))
		}
		for range benchSearchCases / benchSearchTenants {
			cid := benchUUID(g.rng)
			c.cases[tid] = append(c.cases[tid], cid)
			status[cid] = statuses[g.rng.IntN(len(statuses))]
			labels := []string{"Drohung", "Stalking", "Arbeitsplatz", "häusliche Gewalt", "threat", "workplace", "Kündigung", "Social Media"}
			text := fmt.Sprintf("TM-%d-%04d %s, %s. Beteiligte: %s, %s. %s", 2021+t, len(c.cases[tid]), g.pick(labels), g.pick(labels), g.name(), g.name(), g.text(g.words(10, 40)))
			add(&tma.SearchDoc{Type: tma.SearchCase, TenantID: tid, CaseID: cid, Author: g.name(), Title: g.title(), Text: text})
		}
		for range benchSearchWiki {
			d := &tma.SearchDoc{Type: tma.SearchWiki, TenantID: tid, Author: g.name(), Title: g.title(), Text: g.text(g.words(80, 600))}
			for _, r := range roles {
				switch g.rng.IntN(8) {
				case 0, 1, 2, 3:
					d.WikiRoles = append(d.WikiRoles, r)
				case 4:
					d.WikiHidden = append(d.WikiHidden, r)
				}
			}
			add(d)
		}
		for range benchSearchTriage {
			d := &tma.SearchDoc{Type: tma.SearchReport, TenantID: tid, Title: g.title(), Text: g.text(g.words(40, 300))}
			if g.rng.IntN(4) == 0 {
				d.TriageHidden = []string{c.users[tid][g.rng.IntN(len(c.users[tid]))]}
			}
			add(d)
		}
	}
	for len(c.docs) < benchSearchItems {
		tid := c.tenants[g.rng.IntN(len(c.tenants))]
		d := &tma.SearchDoc{TenantID: tid, CaseID: g.pick(c.cases[tid]), Author: g.name(), Title: g.title()}
		switch r := g.rng.IntN(100); {
		case r < 50:
			d.Type, d.Text = tma.SearchNote, g.text(g.words(15, 200))
			d.Restricted = g.rng.IntN(10) == 0
		case r < 70:
			d.Type, d.Text = tma.SearchAction, g.text(g.words(5, 40))
		case r < 85:
			d.Type, d.Text = tma.SearchDocument, g.text(g.words(150, 900))
		default:
			d.Type, d.Text = tma.SearchReport, g.text(g.words(40, 300))
		}
		add(d)
	}
	return c
}

// benchQuery is one query of the mix, for both engines: Text for the
// index's query language; parts and typ for SQL.
type benchQuery struct {
	Text  string
	parts []benchPart
	typ   string
}

type benchPart struct {
	text   string
	prefix bool // text is the prefix, without the *
}

// benchQueries makes the query mix: single words (inflected forms, names
// with and without umlauts), two words, phrases, prefixes, and a word with
// a type: filter.
func benchQueries(seed uint64) []benchQuery {
	g := &benchGen{rng: rand.New(rand.NewPCG(seed, 12))}
	words := strings.Fields("Drohung Drohungen Bedrohung Hausverbot Kündigung Messer Waffe Polizei Parkplatz Kantine Abmahnung Beleidigungen " +
		"Nachtschicht Tiefgarage Gefährdungseinschätzung Kontaktverbot Videoüberwachung Eskalation Belästigung Zeugin Schutzmaßnahmen Kränkung " +
		"Müller Mueller Köhler Schröder Özdemir Jürgen Weiß Weiss Strauß Hübner Sören Bärbel " +
		"threat threatening threats weapon knife email e-mails dismissal harassment neighbour supervisor stalking grievance revenge " +
		"receptionist counselling footage assessment stairwell WhatsApp")
	phrases := []string{"risk assessment", "contact ban", "parking lot", "written warning", "safety plan", "night shift", "police report",
		"threatening letter", "case conference", "warning signs", "auf dem Parkplatz", "vor dem Gebäude", "sehr aggressiv", "in der Kantine",
		"Frau Köhler", "Herr Müller", "eine Drohung", "mehrere Drohungen", "the neighbour", "building access"}
	prefixes := strings.Fields("droh bedro haus künd mess poliz park kant abma belei nacht gefähr kontakt video eskal zeug müll köhl schrö özde " +
		"threa weap knif emai dism haras neigh super stalk griev reven couns foot")
	var qs []benchQuery
	for len(qs) < benchSearchQueries {
		var q benchQuery
		switch r := g.rng.IntN(100); {
		case r < 35:
			w := g.pick(words)
			q = benchQuery{Text: w, parts: []benchPart{{text: w}}}
		case r < 55:
			a, b := g.pick(words), g.pick(words)
			q = benchQuery{Text: a + " " + b, parts: []benchPart{{text: a}, {text: b}}}
		case r < 70:
			p := g.pick(phrases)
			q = benchQuery{Text: `"` + p + `"`, parts: []benchPart{{text: `"` + p + `"`}}}
		case r < 85:
			p := g.pick(prefixes)
			q = benchQuery{Text: p + "*", parts: []benchPart{{text: p, prefix: true}}}
		default:
			w, t := g.pick(words), g.pick(tma.SearchTypes)
			q = benchQuery{Text: w + " type:" + t, parts: []benchPart{{text: w}}, typ: t}
		}
		qs = append(qs, q)
	}
	return qs
}
