import { useEffect, useState } from 'preact/hooks';
import { navigate } from '../../router.js';
import { filtersToQuery, MINE, type ListFilters } from './list-query.js';

type OwnerChoice = 'anyone' | 'mine' | 'user';

function ownerChoice(owner: string): OwnerChoice {
  return owner === '' ? 'anyone' : owner === MINE ? 'mine' : 'user';
}

/**
 * The list's filters. Applying them changes the route (a history entry), so the list is what
 * the address says: back, forward and reload keep it.
 */
export function ListFilterForm({ filters }: { filters: ListFilters }) {
  const [type, setType] = useState(filters.type);
  const [q, setQ] = useState(filters.q);
  const [owner, setOwner] = useState<OwnerChoice>(ownerChoice(filters.owner));
  const [ownerId, setOwnerId] = useState(ownerChoice(filters.owner) === 'user' ? filters.owner : '');

  // Back and forward change the filters under the form: show what the list shows.
  useEffect(() => {
    setType(filters.type);
    setQ(filters.q);
    setOwner(ownerChoice(filters.owner));
    setOwnerId(ownerChoice(filters.owner) === 'user' ? filters.owner : '');
  }, [filters.type, filters.q, filters.owner]);

  const apply = (event: Event) => {
    event.preventDefault();
    const chosenOwner = owner === 'mine' ? MINE : owner === 'user' ? ownerId : '';
    navigate('/resources', filtersToQuery({ type, q, owner: chosenOwner }));
  };

  return (
    <form class="documents-filters" role="search" aria-label="Filter documents" onSubmit={apply}>
      <label>
        Name contains
        <input type="search" name="q" value={q} maxLength={255} onInput={(e) => setQ(e.currentTarget.value)} />
      </label>
      <label>
        Type
        <input name="type" value={type} maxLength={64} spellcheck={false} autoCapitalize="off" onInput={(e) => setType(e.currentTarget.value)} />
      </label>
      {/* Not wrapped: a wrapping label would name the select "Owner Anyone". */}
      <div class="documents-filter-field">
        <label for="filter-owner">Owner</label>
        <select id="filter-owner" name="owner" value={owner} onChange={(e) => setOwner(e.currentTarget.value as OwnerChoice)}>
          <option value="anyone">Anyone</option>
          <option value="mine">Me</option>
          <option value="user">A user id…</option>
        </select>
      </div>
      {owner === 'user' && (
        <label>
          Owner id
          <input name="ownerId" value={ownerId} maxLength={64} spellcheck={false} onInput={(e) => setOwnerId(e.currentTarget.value)} />
        </label>
      )}
      <div class="documents-filter-actions">
        <button type="submit" class="primary">
          Filter
        </button>
      </div>
    </form>
  );
}
