package awsfake_test

import (
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
)

func TestSQSBasics(t *testing.T) {
	t.Parallel()
	e := newEnv(t, awsfake.Options{})
	q, err := e.sqs.CreateQueue(e.ctx, &sqs.CreateQueueInput{QueueName: aws.String("events"), Attributes: map[string]string{"VisibilityTimeout": "60"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := e.s.URL() + "/123456789012/events"; aws.ToString(q.QueueUrl) != want {
		t.Errorf("queue URL %s, want %s", aws.ToString(q.QueueUrl), want)
	}
	if _, err := e.sqs.CreateQueue(e.ctx, &sqs.CreateQueueInput{QueueName: aws.String("events"), Attributes: map[string]string{"VisibilityTimeout": "60"}}); err != nil {
		t.Errorf("identical CreateQueue = %v", err)
	}
	_, err = e.sqs.CreateQueue(e.ctx, &sqs.CreateQueueInput{QueueName: aws.String("events"), Attributes: map[string]string{"VisibilityTimeout": "10"}})
	if apiCode(err) != "QueueAlreadyExists" {
		t.Errorf("CreateQueue with other attributes = %v", err)
	}
	u, err := e.sqs.GetQueueUrl(e.ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("events")})
	if err != nil || aws.ToString(u.QueueUrl) != aws.ToString(q.QueueUrl) {
		t.Errorf("GetQueueUrl = %v, %v", u, err)
	}
	_, err = e.sqs.GetQueueUrl(e.ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("nope")})
	var missing *sqstypes.QueueDoesNotExist
	if !errors.As(err, &missing) || apiCode(err) != "AWS.SimpleQueueService.NonExistentQueue" {
		t.Errorf("unknown queue = %v (%T)", err, errors.Unwrap(err))
	}

	sent, err := e.sqs.SendMessage(e.ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(`{"a":1}`),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{"kind": {DataType: aws.String("String"), StringValue: aws.String("test")}}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := e.sqs.SendMessage(e.ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := e.sqs.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10,
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{"All"}, MessageAttributeNames: []string{"All"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Messages) != 4 || aws.ToString(got.Messages[0].MessageId) != aws.ToString(sent.MessageId) ||
		got.Messages[0].Attributes["ApproximateReceiveCount"] != "1" || aws.ToString(got.Messages[0].MessageAttributes["kind"].StringValue) != "test" {
		t.Fatalf("received %+v", got.Messages)
	}
	attrs, err := e.sqs.GetQueueAttributes(e.ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{"All"}})
	if err != nil || attrs.Attributes["ApproximateNumberOfMessagesNotVisible"] != "4" || attrs.Attributes["VisibilityTimeout"] != "60" {
		t.Errorf("attributes %v, %v", attrs, err)
	}

	del, err := e.sqs.DeleteMessageBatch(e.ctx, &sqs.DeleteMessageBatchInput{QueueUrl: q.QueueUrl, Entries: []sqstypes.DeleteMessageBatchRequestEntry{
		{Id: aws.String("a"), ReceiptHandle: got.Messages[1].ReceiptHandle},
		{Id: aws.String("b"), ReceiptHandle: aws.String("garbage")},
	}})
	if err != nil || len(del.Successful) != 1 || len(del.Failed) != 1 || aws.ToString(del.Failed[0].Code) != "ReceiptHandleIsInvalid" {
		t.Errorf("DeleteMessageBatch = %+v, %v", del, err)
	}
	if _, err := e.sqs.DeleteMessage(e.ctx, &sqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: got.Messages[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	_, err = e.sqs.DeleteMessage(e.ctx, &sqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: aws.String("garbage")})
	var bad *sqstypes.ReceiptHandleIsInvalid
	if !errors.As(err, &bad) {
		t.Errorf("bad receipt handle = %v", err)
	}
	// Visibility back to 0 makes a message receivable at once.
	if _, err := e.sqs.ChangeMessageVisibility(e.ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: q.QueueUrl, ReceiptHandle: got.Messages[2].ReceiptHandle, VisibilityTimeout: 0}); err != nil {
		t.Fatal(err)
	}
	again, err := e.sqs.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{"ApproximateReceiveCount"}})
	if err != nil || len(again.Messages) != 1 || aws.ToString(again.Messages[0].Body) != "1" || again.Messages[0].Attributes["ApproximateReceiveCount"] != "2" {
		t.Errorf("after ChangeMessageVisibility: %+v, %v", again, err)
	}
	_, err = e.sqs.ChangeMessageVisibility(e.ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: q.QueueUrl, ReceiptHandle: got.Messages[2].ReceiptHandle, VisibilityTimeout: 5})
	if apiCode(err) != "InvalidParameterValue" {
		t.Errorf("expired receipt handle = %v", err)
	}

	for _, tc := range []struct {
		name string
		in   *sqs.ReceiveMessageInput
	}{
		{"11 messages", &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 11}},
		{"wait 21s", &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, WaitTimeSeconds: 21}},
	} {
		if _, err := e.sqs.ReceiveMessage(e.ctx, tc.in); apiCode(err) != "InvalidParameterValue" {
			t.Errorf("%s = %v", tc.name, err)
		}
	}
	if _, err := e.sqs.SendMessage(e.ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("bad \x01")}); apiCode(err) != "InvalidMessageContents" {
		t.Errorf("control character = %v", err)
	}
	list, err := e.sqs.ListQueues(e.ctx, &sqs.ListQueuesInput{QueueNamePrefix: aws.String("ev")})
	if err != nil || len(list.QueueUrls) != 1 {
		t.Errorf("ListQueues = %v, %v", list, err)
	}
}

func TestSQSLongPoll(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newBubbleEnv(t, awsfake.Options{})
		q, err := e.sqs.CreateQueue(e.ctx, &sqs.CreateQueueInput{QueueName: aws.String("q")})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		empty, err := e.sqs.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, WaitTimeSeconds: 20})
		if err != nil || len(empty.Messages) != 0 || time.Since(start) != 20*time.Second {
			t.Errorf("empty long poll returned %v after %v, %v", empty.Messages, time.Since(start), err)
		}

		start = time.Now()
		done := make(chan *sqs.ReceiveMessageOutput)
		go func() {
			out, err := e.sqs.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, WaitTimeSeconds: 20})
			if err != nil {
				t.Error(err)
			}
			done <- out
		}()
		time.Sleep(7 * time.Second)
		if _, err := e.sqs.SendMessage(e.ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("wake up")}); err != nil {
			t.Fatal(err)
		}
		out := <-done
		if len(out.Messages) != 1 || time.Since(start) != 7*time.Second {
			t.Errorf("long poll got %d messages after %v", len(out.Messages), time.Since(start))
		}

		// A delayed message ends the wait when its delay does.
		start = time.Now()
		if _, err := e.sqs.SendMessage(e.ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("later"), DelaySeconds: 3}); err != nil {
			t.Fatal(err)
		}
		out, err = e.sqs.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, WaitTimeSeconds: 20})
		if err != nil || len(out.Messages) != 1 || time.Since(start) != 3*time.Second {
			t.Errorf("delayed message after %v: %+v, %v", time.Since(start), out, err)
		}
	})
}

func TestSQSRedrive(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newBubbleEnv(t, awsfake.Options{})
		dlq, err := e.sqs.CreateQueue(e.ctx, &sqs.CreateQueueInput{QueueName: aws.String("dlq")})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.sqs.CreateQueue(e.ctx, &sqs.CreateQueueInput{QueueName: aws.String("bad"), Attributes: map[string]string{
			"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:nope","maxReceiveCount":2}`}})
		if apiCode(err) != "InvalidAttributeValue" {
			t.Errorf("redrive to a missing queue = %v", err)
		}
		q, err := e.sqs.CreateQueue(e.ctx, &sqs.CreateQueueInput{QueueName: aws.String("work"), Attributes: map[string]string{
			"VisibilityTimeout": "10",
			"RedrivePolicy":     `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:dlq","maxReceiveCount":"2"}`}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.sqs.SendMessage(e.ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("poison")}); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			out, err := e.sqs.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, WaitTimeSeconds: 20,
				MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{"ApproximateReceiveCount"}})
			if err != nil || len(out.Messages) != 1 || out.Messages[0].Attributes["ApproximateReceiveCount"] != fmt.Sprint(i+1) {
				t.Fatalf("receive %d: %+v, %v", i, out, err)
			}
		}
		// The third receive finds the message over maxReceiveCount and moves it.
		out, err := e.sqs.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, WaitTimeSeconds: 20})
		if err != nil || len(out.Messages) != 0 {
			t.Errorf("third receive: %+v, %v", out, err)
		}
		dead, err := e.sqs.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{QueueUrl: dlq.QueueUrl})
		if err != nil || len(dead.Messages) != 1 || aws.ToString(dead.Messages[0].Body) != "poison" {
			t.Errorf("dead-letter queue: %+v, %v", dead, err)
		}
	})
}
