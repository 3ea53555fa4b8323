// Package search is the full-text index of one server process: a Bleve
// (scorch) index per tenant under ./var/search/t-<tenant id in hex>/, fed
// from the PostgreSQL outbox, that implements tma.SearchIndex.
//
// # What the index holds
//
// Each tenant's items are in a Bleve index of their own (a shard): a
// search opens only its tenant's, so its cost grows with that tenant's
// items, and its term statistics (scores, prefix expansion) are the
// tenant's alone. One Bleve document per item, with the id
// "<tenant>/<key>". Nothing is
// stored (Store is off on every field, there is no _all field and no
// dynamic mapping): the index holds terms and their positions, never a
// field's value. Fields:
//
//	tenant, type, case, status, month   keywords ("-" is the case of items without one)
//	restricted                          bool
//	wiki_roles, wiki_hidden, wiki_narrow, triage_hidden  keywords, several per item
//	expand                              every term of title and text once more, as "<tenant>|<lang>|<term>", for prefix and fuzzy words
//	date                                datetime
//	author                              analysed as a name (lower case, folded, not stemmed)
//	title_de, title_en, text_de, text_en  the title and text, analysed in German and in English
//
// A wiki attachment (type wikifile) carries its page's wiki_roles,
// wiki_narrow and wiki_hidden, so the page's rule decides it unchanged.
//
// Doc values (an uninverted copy of a field, for facets and sorting) exist
// only for type, case, status, month and date, none of which holds text.
// Term vectors (positions and offsets, not text) exist on the text fields,
// for phrases.
//
// Beside the shards, tma_index.json holds the mapping version
// (MappingVersion; Open reports an index of another version, a missing or
// a corrupt one with ErrNeedsRebuild; each shard keeps the version in its
// internal store too, with a mark while it has changed since its last
// compaction, so that Compact after a restart still erases what was
// deleted before it) and the last applied outbox sequence. Apply writes
// the shards' batches first and the sequence after them, atomically (a
// rename): after a crash the sequence is never ahead of the documents, and
// replaying changes is harmless.
//
// # Analysis
//
// Both analyzers share a tokenizer: Bleve's Unicode word tokenizer, except
// that a single letter joined by a hyphen to the next word is one token
// ("E-Mail", "e-mails" → "email", "emails"), keeping byte offsets.
//
//   - German (tma_de): lower case, German stop words, Bleve's German
//     normaliser (ä→a, ae→a, ü→u, ue→u, ß→ss: "Mueller", "Muller" and
//     "Müller" are one term), other diacritics off (é→e), the light German
//     stemmer ("Drohungen"→"drohung", "Häuser"→"haus").
//   - English (tma_en): possessive 's off, lower case, English stop words,
//     Porter, then "-en" off stems of six letters or more: Porter leaves
//     "threatening" as "threaten", which thus becomes "threat", the stem
//     of "threat" and "threats". It over-stems a few words ("garden" →
//     "gard") the same way at index and query time.
//
// A word is looked up in all four text fields (a disjunction), each
// analysed with the field's analyzer; a word that is a stop word in either
// language is left out of the query (German "die" is English "die"). There
// is no decompounding: "Drohung" does not find "Bedrohung" ("*drohung" is
// not supported either). Prefixes are folded but not stemmed; fuzzy words
// are analysed, then matched with edit distance 1 (or 2 for words of 8
// letters or more, or word~2).
//
// # Queries and the permission filter
//
// query.go describes the query language. Search builds one Bleve
// BooleanQuery of the words, its Must (scoring) and MustNot clauses; the
// permission filter, built from tma.SearchScope only, and the query's
// field filters (type:, case:, author:, dates) form a filter that runs
// with scoring off and leads the iteration (filteredQuery, filter.go:
// words are only scored on permitted items), before the collector:
// totals, facets and pages only ever count permitted items, and a hit's
// score is that of its words alone (TestSearchNeverLeaks compares scores
// with the unfiltered query's). The cases of a scope are a disjunction of
// terms up to 64 cases; beyond that, if at most 64 of the index's cases
// are missing from the scope (a lead who sees all cases), the tenant's
// items minus those cases, read from the same snapshot; otherwise a check
// of each candidate's case doc value (caseSetQuery). A scope that permits nothing is answered
// without a query, never with an empty, match-all filter.
//
// # Threat model and limits
//
//   - The index files hold the terms of every item of every tenant, each
//     tenant's in its own folder (term dictionaries are how search works),
//     not their values. Erased
//     (deleted, shredded) items leave the files once their segments are
//     merged (Compact) or the index is rebuilt (Rebuild, which removes the
//     old folder).
//   - Term statistics are the tenant's: a hit's score (its IDF) depends,
//     faintly, on items of the tenant the user may not see, in other
//     cases; never on other tenants. Scores should order hits, not be
//     shown. Whether a prefix expands to more than maxPrefixTerms terms
//     depends on the tenant's terms only.
//   - Queries are bounded: tma.MaxSearchQuery bytes, maxQueryParts parts,
//     maxExpensiveParts prefixes and fuzzy words, maxPrefixTerms terms per
//     prefix, a timeout (Index.Timeout), and maxHitsPaged hits paged
//     through. Errors are EINVALID with a message for the user; queries are
//     never logged here.
//   - Snippets are cut at query time from the decrypted source, for hits
//     the caller has re-checked; the index never returns text.
package search
