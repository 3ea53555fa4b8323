package tma

import "slices"

// Restricted items (Item.Restricted) hold health or criminal-offence data
// (GDPR Art. 9/10). Their ratings are stored with the others, sealed in
// the same record, so that the rules (Evaluate) always see every rating;
// what a reader without CanReadRestricted gets is cut here, once, and the
// adapters and pages only pass the flag on.

// HasRestricted reports whether any item of in is restricted.
func (in *Instrument) HasRestricted() bool {
	for _, s := range in.Sections {
		for _, it := range s.Items {
			if it.Restricted {
				return true
			}
		}
	}
	return false
}

// HideRestricted returns ratings as a reader without the right to read
// restricted content may see them: the rating of every restricted item of
// in, rated or not, is Rating{Hidden: true}, so neither its value, its
// texts and links, nor whether it was rated show. The other ratings are
// kept. ratings itself is not changed.
func (in *Instrument) HideRestricted(ratings map[string]Rating) map[string]Rating {
	out := make(map[string]Rating, len(ratings))
	for id, r := range ratings {
		out[id] = r
	}
	for _, s := range in.Sections {
		for _, it := range s.Items {
			if it.Restricted {
				out[it.ID] = Rating{Hidden: true}
			}
		}
	}
	return out
}

// KeepRestricted returns what a save by a reader without the right to
// read restricted content stores: their input for every item that is not
// restricted, and for every restricted item the stored rating, whatever
// the input holds for it (they never saw it, so they can neither change
// nor wipe it). Neither map is changed.
func (in *Instrument) KeepRestricted(input, stored map[string]Rating) map[string]Rating {
	out := make(map[string]Rating, len(input))
	for id, r := range input {
		if it, _ := in.Item(id); it != nil && it.Restricted {
			continue
		}
		r.Hidden = false
		out[id] = r
	}
	for _, s := range in.Sections {
		for _, it := range s.Items {
			if r, ok := stored[it.ID]; ok && it.Restricted {
				r.Hidden = false
				r.Links = slices.Clone(r.Links)
				out[it.ID] = r
			}
		}
	}
	return out
}
