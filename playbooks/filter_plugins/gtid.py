"""MariaDB GTID positions (`domain-server-sequence`, comma separated), for db_promote.yml.

{{ candidate_position | gtid_missing(other_position) }}
-> the GTIDs of other_position that candidate_position has not reached, one per domain
"""


def _sequences(position):
    """{domain: (server, sequence)} of a position; '' (nothing received) has none."""
    sequences = {}
    for gtid in filter(None, (part.strip() for part in (position or "").split(","))):
        domain, server, sequence = gtid.split("-")
        sequences[int(domain)] = (int(server), int(sequence))
    return sequences


def gtid_missing(position, other):
    """The GTIDs of `other` beyond `position`, domain by domain (empty: position has it all)."""
    have = _sequences(position)
    missing = []
    for domain, (server, sequence) in sorted(_sequences(other).items()):
        if sequence > have.get(domain, (0, 0))[1]:
            missing.append(f"{domain}-{server}-{sequence}")
    return missing


class FilterModule:
    def filters(self):
        return {"gtid_missing": gtid_missing}
