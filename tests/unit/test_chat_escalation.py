from __future__ import annotations

from shelfwise.chat.escalation import EscalationPolicy, SessionState, advance_session, decide

POLICY = EscalationPolicy()


def _turn(state: SessionState, intent: str, sentiment: str, confidence: float = 0.9, p_negative: float = 0.1):
    state = advance_session(state, intent=intent, sentiment_label=sentiment, policy=POLICY)
    return state, decide(
        intent=intent, confidence=confidence, negative_probability=p_negative, session=state, policy=POLICY
    )


def test_a_confident_neutral_question_is_not_escalated() -> None:
    _, decision = _turn(SessionState(), "track_order", "neutral")
    assert not decision.escalate and decision.priority is None and decision.reasons == ()


def test_complaint_and_request_for_a_person_escalate_at_p2() -> None:
    for intent in ("complaint", "contact_human_agent"):
        _, decision = _turn(SessionState(), intent, "neutral")
        assert decision.escalate and decision.priority == "P2"
        assert decision.reasons == (f"intent:{intent}",)


def test_angry_complaint_is_p1() -> None:
    _, decision = _turn(SessionState(), "complaint", "negative", p_negative=0.97)
    assert decision.priority == "P1"
    assert set(decision.reasons) == {"intent:complaint", "strong_negative_sentiment"}


def test_one_strongly_negative_message_is_p2_and_mildly_negative_is_not_escalated() -> None:
    _, strong = _turn(SessionState(), "track_order", "negative", p_negative=0.9)
    _, mild = _turn(SessionState(), "track_order", "negative", p_negative=0.6)
    assert (strong.escalate, strong.priority) == (True, "P2")
    assert not mild.escalate


def test_unsure_guess_of_an_escalation_intent_is_only_low_confidence() -> None:
    _, decision = _turn(SessionState(), "complaint", "neutral", confidence=0.2)
    assert (decision.priority, decision.reasons) == ("P3", ("low_confidence",))


def test_mildly_negative_request_for_a_person_is_p1() -> None:
    _, decision = _turn(SessionState(), "contact_human_agent", "negative", p_negative=0.6)
    assert decision.priority == "P1"


def test_low_confidence_alone_is_p3() -> None:
    _, decision = _turn(SessionState(), "track_order", "neutral", confidence=0.2)
    assert (decision.escalate, decision.priority, decision.reasons) == (True, "P3", ("low_confidence",))


def test_conversation_that_stays_negative_escalates_at_p1_on_the_third_message() -> None:
    state = SessionState()
    decisions = []
    for _ in range(3):
        state, decision = _turn(state, "track_order", "negative", p_negative=0.6)
        decisions.append(decision)
    assert [d.escalate for d in decisions] == [False, False, True]
    assert decisions[-1].priority == "P1" and "negative_session" in decisions[-1].reasons
    assert state.message_count == 3 and state.negative_streak == 3


def test_a_neutral_message_resets_the_negative_streak() -> None:
    state = SessionState()
    for sentiment in ("negative", "negative", "neutral", "negative"):
        state, decision = _turn(state, "track_order", sentiment, p_negative=0.6)
    assert state.negative_streak == 1 and not decision.escalate


def test_session_state_round_trips_through_a_plain_dict() -> None:
    state = SessionState()
    for sentiment in ("neutral", "negative"):
        state, _ = _turn(state, "get_refund", sentiment)
    assert SessionState.from_dict(state.to_dict()) == state
    assert state.recent_sentiments == ("neutral", "negative")


def test_recent_sentiments_are_capped() -> None:
    state = SessionState()
    for _ in range(POLICY.recent_window + 5):
        state, _ = _turn(state, "track_order", "neutral")
    assert len(state.recent_sentiments) == POLICY.recent_window
