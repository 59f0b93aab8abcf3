"""MariaDB GTID positions (`domain-server-sequence`, comma separated).

{{ position | gtid_missing(other_position) }}
-> the GTIDs of other_position that position has not reached, one per domain

Each primary writes in its own domain (role mariadb sets gtid_domain_id), so a domain has one
writer and its sequence numbers one history: comparing them domain by domain is exact.
db_promote.yml compares replicas with it; role mariadb compares a former primary with the primary.
"""


def _sequences(position):
    """{domain: (server, sequence)}, the highest sequence of each domain; '' has none.

    A position may join several (a primary's binary log and replica positions): the highest wins.
    """
    sequences = {}
    for gtid in filter(None, (part.strip() for part in (position or "").split(","))):
        domain, server, sequence = (int(number) for number in gtid.split("-"))
        if sequence > sequences.get(domain, (0, 0))[1]:
            sequences[domain] = (server, sequence)
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
