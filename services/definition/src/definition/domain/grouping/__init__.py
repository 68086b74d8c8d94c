"""Proposing workflows for the tasks that are in none (issue 20): which unassigned tasks belong together, from the
lineage-derived task dependencies. Pure: no I/O; networkx does the graph algorithms.

``partition.group_tasks(task_ids, upstream, max_size) -> list[Group]``
    Partition ``task_ids`` (unassigned tasks) into groups; ``upstream`` maps a task to the tasks it depends on
    (lineage; ids outside ``task_ids`` are ignored). Every task lands in exactly one group; no group has more than
    ``max_size`` tasks; every group is weakly connected; a group's ``edges`` are its internal dependencies and are
    acyclic (a lineage cycle's closing edges are set apart in ``cycle_edges``, and the group cannot be accepted);
    the dependencies cut between groups never run in a circle between groups (the algorithm: ``partition``).
``proposals.propose(unassigned, upstream, workflow_of, ...) -> list[Proposal]``
    The groups as proposals with their reasons: new workflows, or, for a lone task whose producers and consumers
    are all in one existing workflow, an addition to it; the tables per edge and the dependencies that cross the
    proposal's boundary (each kept as a DEPENDENT link).
``upkeep.ProposalBook``
    Groups kept up to date incrementally (``update``) after dependency or assignment changes: only the groups a
    change breaks are formed again (``upkeep.affected``).
``home.suggest_home(producers, consumers) -> HomeSuggestion | None``
    The workflow a task's lineage points to.
``groups``: ``Group`` and its ``fingerprint``, the size limits.
"""
