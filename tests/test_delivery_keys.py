"""Delivery keys are stored: the outbox's uniqueness on them is what keeps a re-plan from
sending twice, so a key's format may never change under work already planned."""

from datetime import date

from app.incidents import delivery_keys as keys

REF = "INC-2026-0042"


def test_every_key_keeps_the_format_already_in_outboxes():
    assert [keys.channel(REF), keys.kickoff(REF), keys.meeting(REF), keys.broadcast(REF)] == [
        f"{REF}/channel", f"{REF}/kickoff", f"{REF}/meeting", f"{REF}/broadcast"]
    assert keys.team_member(REF, 7) == f"{REF}/member/7"
    assert keys.channel_member(REF, 7) == f"{REF}/channel-member/7"
    assert keys.channel_member_removal(REF, 7, 31) == f"{REF}/channel-member/7/removal/31"
    assert keys.channel_member_taken_back(REF, 7, 31) == \
        f"{REF}/channel-member/7/taken-back/31"
    assert keys.archive_channel(REF, 3) == f"{REF}/channel/archive/3"
    assert keys.unarchive_channel(REF, 9) == f"{REF}/channel/unarchive/9"
    assert keys.channel_read(REF, "ab12") == f"{REF}/read/ab12"
    assert keys.reminders(REF, 5) == f"{REF}/reminders/5"
    assert keys.action_chase(REF, 4, date(2026, 12, 2)) == f"{REF}/action/4/chase/2026-12-02"
    assert keys.review_meeting(REF) == f"{REF}/review-meeting"
    assert keys.review_invite(REF, "incident lead", 8) == f"{REF}/review-meeting/incident/8"
    assert keys.update(REF, 11) == f"{REF}/update/11"
    assert keys.handover(REF, 2) == f"{REF}/handover/2"
    assert keys.handover_declined(REF, 2) == f"{REF}/handover/2/declined"
    assert keys.security_contacts(REF) == f"{REF}/security-contacts"
    assert keys.teams_part(keys.update(REF, 11)) == f"{REF}/update/11/teams"
    assert keys.mail_part(keys.update(REF, 11), 2) == f"{REF}/update/11/mail/2"
